/** The frame every page shares: head, style sheet link, breadcrumbs, who is logged in, and the headers that lock a page down. */
import { html, isolate, plain, type Fragment, type Html } from './html'
import SCRIPT_TEXT from './rowpost.js' with { type: 'text' }

/**
 * Nothing inline, nothing from elsewhere: styles and scripts only from this server's own files, forms only to it,
 * never framed. `connect-src 'self'` is for the table page's change feed (EventSource).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "style-src 'self'",
  "script-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ')

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
}

export const STYLESHEET_PATH = '/-/static/rowpost.css'
/** The table page's script (it follows the change feed), served like the style sheet: a file of this server's own. */
export const SCRIPT_PATH = '/-/static/rowpost.js'
export const SCRIPT = SCRIPT_TEXT

/** One step of the breadcrumbs: a name and where it links (the last step links nowhere). */
export interface Crumb {
  label: string
  href?: string
}

export interface PageFrame {
  title: string
  crumbs: Crumb[]
  /** Who the page was rendered for: their id, or null when anonymous. */
  actorId: string | null
  /** Whether this server can log people in (it has a secret). */
  loginEnabled: boolean
  body: Fragment
}

function who(actorId: string | null, loginEnabled: boolean): Html {
  if (actorId !== null) {
    return html`<form class="who" method="post" action="/-/logout"><span>${isolate(actorId)}</span> <button type="submit">Log out</button></form>`
  }
  return loginEnabled ? html`<a class="who" href="/-/login">Log in</a>` : html``
}

export function page({ title, crumbs, actorId, loginEnabled, body }: PageFrame): Html {
  const trail = crumbs.map((crumb, i) => {
    const sep = i === 0 ? '' : html`<span aria-hidden="true"> / </span>`
    return crumb.href === undefined ? html`${sep}<span>${isolate(crumb.label)}</span>` : html`${sep}<a href="${crumb.href}">${isolate(crumb.label)}</a>`
  })
  return html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${plain(title)} · rowpost</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<header><nav><a class="home" href="/">rowpost</a>${crumbs.length ? html` / ` : ''}${trail}</nav>${who(actorId, loginEnabled)}</header>
<main>
${body}
</main>
</body>
</html>
`
}

export function pageResponse(markup: Html, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(markup.text, { status, headers: { ...PAGE_HEADERS, ...headers } })
}

/** The style sheet: plain CSS, readable on a phone (the tables scroll sideways inside their box, not the page). */
export const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5c6670; --line: #d6dbe0; --bg: #fff; --tint: #f4f6f8; --link: #0b5fb4; --null: #8a6d00; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ec; --muted: #9aa4ad; --line: #3a4148; --bg: #16191c; --tint: #20252a; --link: #6cb2ff; --null: #d9b44a; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--link); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; justify-content: space-between; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: var(--tint); }
header nav { overflow-wrap: anywhere; }
header .home { font-weight: 700; text-decoration: none; }
.who { display: flex; gap: .5rem; align-items: center; margin: 0; }
main { padding: 1rem; max-width: 100%; }
h1 { font-size: 1.4rem; margin: .2rem 0 .8rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 .5rem; }
.muted, .count { color: var(--muted); }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .6rem; border-bottom: 1px solid var(--line); }
th { background: var(--tint); white-space: nowrap; position: sticky; top: 0; }
td { max-width: 40rem; overflow-wrap: break-word; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th a { text-decoration: none; }
.null { color: var(--null); font-style: italic; font-size: .85em; }
pre { margin: 0; white-space: pre-wrap; font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
details summary { cursor: pointer; }
details.long .less, details.long[open] .preview, details.long[open] .more { display: none; }
details.long[open] .less { display: inline; }
.more, .less { color: var(--link); font-size: .85em; }
.links { display: flex; flex-wrap: wrap; gap: .4rem 1rem; margin: .4rem 0 .8rem; }
form.filters { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin: .6rem 0; }
form.filters select, form.filters input, textarea, input[type=password] { font: inherit; padding: .3rem .4rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); max-width: 100%; }
button { font: inherit; padding: .3rem .8rem; border: 1px solid var(--line); border-radius: 4px; background: var(--tint); color: var(--fg); cursor: pointer; }
ul.active-filters { list-style: none; padding: 0; margin: .3rem 0; display: flex; flex-wrap: wrap; gap: .4rem; }
ul.active-filters li { background: var(--tint); border: 1px solid var(--line); border-radius: 4px; padding: .1rem .5rem; }
.pager { margin: .8rem 0; display: flex; gap: 1rem; align-items: center; }
.error { border: 1px solid #c0392b; border-radius: 6px; padding: .6rem .8rem; background: color-mix(in srgb, #c0392b 10%, var(--bg)); overflow-wrap: anywhere; }
textarea { width: 100%; min-height: 6rem; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.cards { display: grid; gap: .8rem; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; overflow-wrap: anywhere; }
.card h2 { margin: 0 0 .3rem; }
.live { display: flex; flex-wrap: wrap; gap: .4rem .8rem; align-items: center; margin: .4rem 0; font-size: .9em; }
.live-state::before { content: "●"; margin-right: .3rem; color: var(--muted); }
.live[data-state=live] .live-state::before { color: #2e9d4f; }
.live[data-state=stopped] .live-state::before { color: #c0392b; }
.live-notice { color: var(--muted); }
@keyframes live-flash { from { background: color-mix(in srgb, #2e9d4f 22%, var(--bg)); } to { background: transparent; } }
tr.live-new, tr.live-changed { animation: live-flash 2s ease-out; }
tr.live-new > td:first-child { box-shadow: inset 3px 0 #2e9d4f; }
tr.live-deleted > td:not(:first-child) { text-decoration: line-through; color: var(--muted); }
.live-label { color: #c0392b; font-size: .85em; }
td.unsent { color: var(--muted); }
`
