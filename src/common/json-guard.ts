/** Deeper than any request this service takes; deeper bodies are refused before anything walks them. */
export const MAX_JSON_DEPTH = 32;

/**
 * Checks a parsed JSON body without recursion: nesting deeper than `maxDepth` (class-transformer
 * and JSON.stringify would overflow the stack on it) and NUL characters in strings or keys
 * (PostgreSQL cannot store them). Returns what is wrong, or null.
 */
export function inspectJson(value: unknown, maxDepth = MAX_JSON_DEPTH): string | null {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node === 'string') {
      if (node.includes('\u0000')) return 'Strings must not contain NUL characters.';
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (depth >= maxDepth) return `JSON nesting deeper than ${maxDepth} levels is not accepted.`;
    if (Array.isArray(node)) {
      for (const item of node) stack.push([item, depth + 1]);
    } else {
      for (const [key, item] of Object.entries(node)) {
        if (key.includes('\u0000')) return 'Strings must not contain NUL characters.';
        stack.push([item, depth + 1]);
      }
    }
  }
  return null;
}
