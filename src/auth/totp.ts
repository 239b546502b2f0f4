import { generateSecret, verify } from 'otplib';

export const TOTP_DIGITS = 6;
export const TOTP_PERIOD = 30;

/** 32 base32 characters (160 random bits), as authenticator apps expect. */
export function newTotpSecret(): string {
  return generateSecret();
}

export function totpUri(user: string, secret: string): string {
  return `otpauth://totp/${encodeURIComponent(user)}?secret=${secret}&issuer=AppMesh`;
}

/**
 * Checks a code against the previous, current and next 30 s step. Returns the accepted time
 * step, or undefined; a step at or before `lastStep` is refused so a code works only once.
 */
export async function verifyTotp(secret: string, code: string, lastStep?: number): Promise<number | undefined> {
  const token = code.trim();
  if (!/^\d{6}$/.test(token)) return undefined;
  try {
    const nowStep = Math.floor(Date.now() / 1000 / TOTP_PERIOD);
    const result = await verify({ secret, token, epochTolerance: TOTP_PERIOD, afterTimeStep: lastStep });
    return result.valid ? nowStep + result.delta : undefined;
  } catch {
    return undefined;
  }
}
