/**
 * The one escaping helper of the HTML pages: `html` is a tagged template that escapes every interpolated value unless
 * it is already `Html` (built by `html` itself), so forgetting to escape takes effort and escaping twice cannot happen.
 */

/** Markup that is already safe: only `html` and `raw` make one. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text
  }
}

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text as it may stand in element content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ENTITIES[char]!)
}

/** What a template may interpolate: markup, text (escaped), numbers, nothing, or lists of these. */
export type Fragment = Html | string | number | bigint | boolean | null | undefined | readonly Fragment[]

function render(value: Fragment): string {
  if (value instanceof Html) return value.text
  if (value === null || value === undefined || value === false) return ''
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

export function html(strings: TemplateStringsArray, ...values: Fragment[]): Html {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!
  return new Html(out)
}

/** Markup written in this code base (the style sheet, a fixed snippet); never call it with data. */
export const raw = (text: string): Html => new Html(text)

/** Unicode's bidirectional controls (embeddings, overrides, isolates, marks): a name holding U+202E could reverse the text around it. */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/**
 * A user-supplied name or value shown as text: escaped, inside `<bdi>` so a right-to-left override in it cannot flip
 * what follows it on the page.
 */
export const isolate = (text: string): Html => html`<bdi>${text}</bdi>`

/** For places that cannot hold a `<bdi>` (`<title>`, `<option>`): the controls are shown as U+FFFD instead. */
export const plain = (text: string): string => text.replace(BIDI_CONTROLS, '\ufffd')
