/** The authenticated caller of an operation, whatever face it came through. */
export interface Principal {
  name: string;
  group: string;
  /** Audience of the token the caller presented. */
  audience: string;
  tokenId?: string;
  issuedAt?: number;
  expiresAt?: number;
  /** The raw token, for endpoints that echo it back (`/appmesh/auth`). */
  token?: string;
  /** Client address as the face saw it (audit log). */
  client?: string;
}
