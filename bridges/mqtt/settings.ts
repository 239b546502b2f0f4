import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { ConfigDocument } from '../../src/config/config-schema.js';
import { isTopicLevel, isTopicPrefix } from './topics.js';

export type MqttConfig = ConfigDocument['MQTT'];

/** The MQTT section resolved for one start: defaults filled in and checked. */
export interface MqttSettings extends Omit<MqttConfig, 'NodeId' | 'CaFile' | 'CertFile' | 'KeyFile'> {
  NodeId: string;
  /** Absolute paths (relative ones are read from the home folder); undefined when not set. */
  CaFile?: string;
  CertFile?: string;
  KeyFile?: string;
}

export class MqttSettingsError extends Error {}

export function resolveMqttSettings(config: MqttConfig, home: string): MqttSettings {
  const node = config.NodeId.trim() || hostname();
  if (!isTopicLevel(node)) throw new MqttSettingsError(`MQTT.NodeId '${node}' must not be empty nor contain '/', '+' or '#'`);
  if (!isTopicPrefix(config.TopicPrefix)) throw new MqttSettingsError(`MQTT.TopicPrefix '${config.TopicPrefix}' must be topic levels without wildcards`);
  const path = (file: string) => (file ? (isAbsolute(file) ? file : join(home, file)) : undefined);
  return { ...config, NodeId: node, CaFile: path(config.CaFile), CertFile: path(config.CertFile), KeyFile: path(config.KeyFile) };
}
