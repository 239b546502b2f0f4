/** Events of the supervisor, named as in App Mesh's subscription API. */
export type AppEventType = 'START' | 'EXIT' | 'STDOUT' | 'HEALTH' | 'STATUS' | 'REMOVED';

export interface AppEvent {
  event_type: AppEventType;
  app_name: string;
  timestamp: number;
  sequence: number;
  data: Record<string, unknown> | null;
}
