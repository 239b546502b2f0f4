/** The bridge's login page: password first, then the TOTP code when the account has 2FA. */
export interface LoginPageFields {
  txnId: string;
  /** What the application calls itself (its own claim, shown as such). */
  clientName?: string;
  /** Where the authorization goes after sign-in: the redirect URI's host. */
  redirectHost: string;
  username?: string;
  challenge?: string;
  error?: string;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

export function loginPage(fields: LoginPageFields): string {
  const totp = fields.challenge !== undefined;
  const inputs = totp
    ? `<input type="hidden" name="username" value="${escape(fields.username ?? '')}">
       <input type="hidden" name="totp_challenge" value="${escape(fields.challenge ?? '')}">
       <label>Authenticator code <input name="totp_code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required autofocus></label>`
    : `<label>User <input name="username" autocomplete="username" required autofocus value="${escape(fields.username ?? '')}"></label>
       <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
       <label>Authenticator code (if enabled) <input name="totp_code" inputmode="numeric" autocomplete="one-time-code"></label>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to App Mesh</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem;margin-top:.2rem}button{padding:.5rem 1.2rem}.error{color:#b00}</style>
</head><body>
<h1>Sign in to App Mesh</h1>
<p>${fields.clientName ? `An application calling itself <strong>${escape(fields.clientName)}</strong>` : 'An unnamed application'} asks to use the App Mesh MCP tools with your account.</p>
<p>Signing in sends its authorization to <strong>${escape(fields.redirectHost)}</strong>. Continue only if you started this from that application and trust that host.</p>
${fields.error ? `<p class="error">${escape(fields.error)}</p>` : ''}
<form method="post" action="/login">
<input type="hidden" name="txn_id" value="${escape(fields.txnId)}">
${inputs}
<button type="submit">Sign in and allow</button>
</form>
</body></html>`;
}
