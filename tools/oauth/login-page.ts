/** The bridge's login page: password first, then the TOTP code when the account has 2FA. */
export interface LoginPageFields {
  txnId: string;
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
<p>An application asks to use App Mesh with your account.</p>
${fields.error ? `<p class="error">${escape(fields.error)}</p>` : ''}
<form method="post" action="/login">
<input type="hidden" name="txn_id" value="${escape(fields.txnId)}">
${inputs}
<button type="submit">Sign in</button>
</form>
</body></html>`;
}
