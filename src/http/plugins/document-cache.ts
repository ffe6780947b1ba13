/**
 * The caches of parsed documents and of parse errors that Yoga keeps by document text, bounded by
 * the total length of the texts they hold rather than by their number.
 *
 * Yoga's own keep 1,024 entries each, whatever their size, for an hour, and the validation result of
 * a cached document lives as long as it does: 200 distinct 1 MB documents (a long comment) held 200 MB,
 * and 200 distinct documents of 9,000 unknown fields (18 KB each, under MAX_TOKENS) held 870 MB, the
 * 9,000 validation errors of each included. 1,024 of either were more than the heap. Here the texts
 * held add up to at most `maxChars`, and a text longer than a tenth of that is not kept at all (it
 * would push out most of what the cache holds).
 */
export interface TextKeyedCache<T> {
  get(text: string): T | undefined;
  set(text: string, value: T): void;
}

export function createTextKeyedCache<T>(maxChars: number): TextKeyedCache<T> {
  // A Map iterates in insertion order: the first key is the least recently used.
  const entries = new Map<string, T>();
  let chars = 0;
  return {
    get(text) {
      const value = entries.get(text);
      if (value !== undefined) {
        entries.delete(text);
        entries.set(text, value);
      }
      return value;
    },
    set(text, value) {
      if (text.length > maxChars / 10) return;
      if (entries.delete(text)) chars -= text.length;
      entries.set(text, value);
      chars += text.length;
      for (const oldest of entries.keys()) {
        if (chars <= maxChars) break;
        entries.delete(oldest);
        chars -= oldest.length;
      }
    },
  };
}
