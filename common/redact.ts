// Credentials never reach an error message or the log: user:password@ in a URL, query parameters
// that carry secrets (?token=, ?access_token=, signed-URL signatures…), and Authorization headers.
// Pure (both sides: server/model/download/ and src/models/); used on every URL before it is
// put in a message, and on every message before it leaves.

/** Query parameters whose values are secrets (matched case-insensitively, as a whole name or a suffix). */
const secretParameter = /(^|[-_.])(token|access[-_]?token|api[-_]?key|key|secret|password|passwd|pwd|auth|authorization|signature|sig|credential|credentials|session)$|^x-amz-(credential|signature|security-token)$/i;

export const redacted = "***";

function isSecretParameter(name: string): boolean {
  return secretParameter.test(name);
}

/** The URL with its user info and secret query values replaced; a string that is no URL comes back redacted as text. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactText(url);
  }
  if (parsed.username !== "") parsed.username = redacted;
  if (parsed.password !== "") parsed.password = redacted;
  for (const name of [...parsed.searchParams.keys()]) {
    if (isSecretParameter(name)) parsed.searchParams.set(name, redacted);
  }
  // URLSearchParams encodes "*" as-is and keeps the other parameters' order.
  return parsed.toString();
}

/**
 * Any text (an error message from Node, a server's answer) with URL credentials, secret query
 * values, bearer tokens and the given secrets removed.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let result = text
    // scheme://user:pass@host or scheme://token@host
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, `$1${redacted}@`)
    // name=value where the name is a secret, in a query string or a header-like text
    .replace(/([?&;\s]|^)([A-Za-z0-9_.-]+)=([^&\s#"']+)/g, (whole, lead: string, name: string) =>
      isSecretParameter(name) ? `${lead}${name}=${redacted}` : whole,
    )
    .replace(/\b(Bearer|Basic|token)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${redacted}`)
    // Hugging Face tokens wherever they appear
    .replace(/\bhf_[A-Za-z0-9]{16,}\b/g, redacted);
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join(redacted);
  }
  return result;
}

/** The secrets of a URL (user, password, secret query values), to scrub from any text with redactText. */
export function secretsOf(url: string): string[] {
  try {
    const parsed = new URL(url);
    const secrets = [decodeURIComponent(parsed.username), decodeURIComponent(parsed.password), parsed.username, parsed.password];
    for (const [name, value] of parsed.searchParams) if (isSecretParameter(name)) secrets.push(value, encodeURIComponent(value));
    return secrets.filter((secret) => secret.length > 0);
  } catch {
    return [];
  }
}
