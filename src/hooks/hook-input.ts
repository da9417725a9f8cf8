/** An operation's input as hooks receive it: the plain JSON of what the caller gave (validated DTOs lose their class). */
export function hookInput(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  const plain: unknown = JSON.parse(JSON.stringify(value));
  return plain !== null && typeof plain === 'object' && !Array.isArray(plain) ? (plain as Record<string, unknown>) : { value: plain };
}
