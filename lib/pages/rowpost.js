// The table page follows the table's change feed (Server-Sent Events): new rows at the top, changed rows updated in
// place, deleted rows marked, with a pause button. Served as a file of its own so the page's CSP stays script-src
// 'self'. Every value is put on the page with textContent, never as markup; cells follow lib/pages/cells.ts's rules,
// and tests/browser.test.ts checks that a row shown live is the same markup as the server renders for it.
'use strict'
;(() => {
  const table = document.getElementById('table')
  const body = document.getElementById('rows')
  if (!table || !body || !table.dataset.live || typeof EventSource !== 'function') return
  const live = JSON.parse(table.dataset.live)
  const columns = live.columns
  const byName = new Map(columns.map((column, index) => [column.name, index]))
  const keyColumns = columns.filter((column) => column.key >= 0).sort((a, b) => a.key - b.key)

  // Rows added live beyond this are removed oldest first, so a busy table cannot grow the page without bound.
  const MAX_LIVE_ROWS = 1000
  // Changes held while paused beyond this are not kept: the page says to reload instead.
  const MAX_HELD = 10000
  const FOLD_AT = 300

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag)
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value)
    for (const child of children) node.append(child)
    return node
  }
  const bdi = (text) => el('bdi', null, text)

  const BYTE_UNITS = ['bytes', 'KB', 'MB', 'GB']
  function byteSize(bytes) {
    if (bytes < 1024) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`
    let size = bytes
    let unit = 0
    while (size >= 1024 && unit < BYTE_UNITS.length - 1) {
      size /= 1024
      unit++
    }
    return `${size.toFixed(1)} ${BYTE_UNITS[unit]}`
  }

  function floatText(value) {
    if (!Number.isFinite(value)) return value > 0 ? 'Inf' : value < 0 ? '-Inf' : 'NaN'
    return Number.isInteger(value) && Math.abs(value) < 1e16 ? value.toFixed(1) : String(value)
  }

  function prettyJson(text) {
    const start = text.trimStart()[0]
    if (start !== '{' && start !== '[') return undefined
    try {
      return JSON.stringify(JSON.parse(text), null, 2)
    } catch {
      return undefined
    }
  }

  function folded(text, whole) {
    const characters = [...text]
    if (characters.length <= FOLD_AT) return whole
    const preview = el('span', { class: 'preview' }, bdi(characters.slice(0, FOLD_AT).join('')), '…')
    const more = el('span', { class: 'more' }, `show all ${characters.length.toLocaleString('en')} characters`)
    return el('details', { class: 'long' }, el('summary', null, preview, ' ', more, el('span', { class: 'less' }, 'show less')), whole)
  }

  const isBlob = (value) => value !== null && typeof value === 'object' && value.$base64 === true && typeof value.encoded === 'string'
  const blobBytes = (encoded) => {
    const padding = encoded.endsWith('==') ? 2 : encoded.endsWith('=') ? 1 : 0
    return (encoded.length / 4) * 3 - padding
  }
  const INTEGER_TEXT = /^-?\d+$/

  /**
   * How a number is stored, by the column's affinity: `source` is its JSON text, so 64-bit integers stay exact and
   * `4.0` stays a REAL where the column keeps what it is given.
   */
  function storedNumber(value, source, affinity) {
    const integer = INTEGER_TEXT.test(source)
    if (affinity === 'REAL') return { text: floatText(value), numeric: true }
    if (affinity === 'TEXT') return { text: integer ? source : floatText(value), numeric: false }
    if (integer) return { text: source, numeric: true }
    // INTEGER and NUMERIC keep a REAL with an integral value as an integer.
    if ((affinity === 'INTEGER' || affinity === 'NUMERIC') && Number.isInteger(value) && Math.abs(value) < 2 ** 63)
      return { text: String(value), numeric: true }
    return { text: floatText(value), numeric: true }
  }

  /** One cell's content, as lib/pages/cells.ts renders it. */
  function cell(value, source, column, rowHref) {
    if (value === null || value === undefined) return { node: el('span', { class: 'null' }, 'NULL'), numeric: false }
    if (typeof value === 'boolean') return { node: value ? '1' : '0', numeric: true }
    if (typeof value === 'number') {
      const stored = storedNumber(value, source ?? String(value), column.affinity)
      return { node: stored.numeric ? stored.text : folded(stored.text, bdi(stored.text)), numeric: stored.numeric }
    }
    if (isBlob(value)) {
      const size = el('span', { class: 'blob' }, `<Binary: ${byteSize(blobBytes(value.encoded))}>`)
      const href = rowHref === null ? null : `${rowHref}.blob?_blob_column=${encodeURIComponent(column.name)}`
      return { node: href === null ? size : el('a', { href }, size), numeric: false }
    }
    const text = typeof value === 'string' ? value : JSON.stringify(value)
    const json = prettyJson(text)
    if (json !== undefined) return { node: folded(json, el('pre', null, bdi(json))), numeric: false }
    return { node: folded(text, bdi(text)), numeric: false }
  }

  const TILDE_SAFE = /[A-Za-z0-9_-]/
  const utf8 = new TextEncoder()
  function tildeEncode(value) {
    let encoded = ''
    for (const char of value) {
      if (TILDE_SAFE.test(char)) encoded += char
      else if (char === ' ') encoded += '+'
      else for (const byte of utf8.encode(char)) encoded += `~${byte.toString(16).toUpperCase().padStart(2, '0')}`
    }
    return encoded
  }
  const LOOKS_NUMERIC = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/

  /** A key value as the row's URL spells it (lib/reader.ts encodeKeyValue), so a shown row is found by its key. */
  function keyComponent(value, source, affinity) {
    if (value === null) return '$null'
    if (isBlob(value)) return `$x${[...atob(value.encoded)].map((c) => c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')).join('')}`
    if (typeof value === 'string' && affinity !== 'TEXT' && LOOKS_NUMERIC.test(value)) return `$t${tildeEncode(value)}`
    return tildeEncode(typeof value === 'number' ? (source ?? String(value)) : String(value))
  }

  // JSON.parse loses how a number was written (4.0, 64-bit integers): the reviver's source text keeps it, per object.
  const numberSources = new WeakMap()
  function parseChange(text) {
    return JSON.parse(text, function (name, value, context) {
      if (typeof value === 'number' && context && typeof context.source === 'string') {
        let sources = numberSources.get(this)
        if (!sources) numberSources.set(this, (sources = new Map()))
        sources.set(name, context.source)
      }
      return value
    })
  }
  const sourceOf = (holder, name) => numberSources.get(holder)?.get(name)

  /** The change's values by column (the key's columns from `key`), the sources of its numbers, and the row's URL key. */
  function valuesOf(change) {
    const values = new Map()
    const sources = new Map()
    const row = change.row && typeof change.row === 'object' ? change.row : {}
    for (const name of Object.keys(row)) {
      values.set(name, row[name])
      sources.set(name, sourceOf(row, name))
    }
    const key = Array.isArray(change.key) ? change.key : []
    keyColumns.forEach((column, i) => {
      if (!values.has(column.name) && i < key.length) {
        values.set(column.name, key[i])
        sources.set(column.name, sourceOf(key, String(i)))
      }
    })
    const urlKey =
      key.length === keyColumns.length ? key.map((value, i) => keyComponent(value, sourceOf(key, String(i)), keyColumns[i].affinity)).join(',') : null
    return { values, sources, urlKey, unknownColumns: Object.keys(row).some((name) => !byName.has(name)) }
  }

  function td(value, source, column, rowHref) {
    const { node, numeric } = cell(value, source, column, rowHref)
    return el('td', numeric ? { class: 'num' } : null, node)
  }

  function newRow(change, { values, sources, urlKey }) {
    const rowHref = urlKey === null ? null : `${live.base}/${urlKey}`
    const link = rowHref === null ? el('td') : el('td', null, el('a', { href: rowHref, title: 'This row' }, '→'))
    const cells = columns.map((column) =>
      values.has(column.name)
        ? td(values.get(column.name), sources.get(column.name), column, rowHref)
        : el('td', { class: 'unsent', title: 'Not in the change: reload to see it' }, '…'),
    )
    const tr = el('tr', { class: 'live-new', 'data-change': String(change.id) }, link, ...cells)
    if (urlKey !== null) tr.dataset.key = urlKey
    return tr
  }

  function updateRow(tr, change, { values, sources, urlKey }) {
    const rowHref = `${live.base}/${urlKey}`
    for (const [name, value] of values) {
      const index = byName.get(name)
      if (index === undefined) continue
      tr.cells[index + 1].replaceWith(td(value, sources.get(name), columns[index], rowHref))
    }
    tr.classList.remove('live-changed')
    // Restart the highlight's animation for a row changed twice in a row.
    void tr.offsetWidth
    tr.classList.add('live-changed')
    tr.dataset.change = String(change.id)
  }

  function markDeleted(tr, change) {
    tr.classList.add('live-deleted')
    tr.dataset.change = String(change.id)
    tr.cells[0].replaceChildren(el('span', { class: 'live-label' }, 'deleted'))
  }

  /** Whether a new row passes the page's filters, on its own values: true, false, or undefined when it cannot be told. */
  function passes({ values }) {
    let verdict = true
    for (const [name, op, expected] of live.filters) {
      if (!values.has(name)) return undefined
      const value = values.get(name)
      const column = columns[byName.get(name)]
      const blank = value === null || value === ''
      let result
      if (op === 'isnull') result = value === null
      else if (op === 'notnull') result = value !== null
      else if (op === 'isblank') result = blank
      else if (op === 'notblank') result = !blank
      else {
        const equal = value === null ? null : sameValue(value, expected, column.affinity)
        if (equal === undefined) return undefined
        // SQL's = and != are both false against NULL.
        result = equal === null ? false : op === 'exact' ? equal : !equal
      }
      verdict = verdict && result
    }
    return verdict
  }

  /** `column = 'text'` as SQLite decides it, where that is certain from the value alone; undefined elsewhere. */
  function sameValue(value, text, affinity) {
    const numericColumn = affinity === 'INTEGER' || affinity === 'REAL' || affinity === 'NUMERIC'
    if (typeof value === 'string' && !numericColumn) return value === text
    if (typeof value === 'number' && numericColumn && LOOKS_NUMERIC.test(text)) return value === Number(text)
    return undefined
  }

  // The controls: a state, a pause button and a notice, before the table.
  const state = el('span', { class: 'live-state', id: 'live-state' }, 'Connecting…')
  const pause = el('button', { type: 'button', id: 'live-pause', 'aria-pressed': 'false' }, 'Pause')
  const notice = el('span', { class: 'live-notice', id: 'live-notice', role: 'status' })
  const bar = el('div', { class: 'live', id: 'live', 'data-state': 'connecting' }, state, pause, notice)
  table.closest('.scroll').before(bar)

  const count = document.querySelector('p.count')
  const countAtLoad = count ? count.textContent : ''
  let added = 0

  const held = []
  let paused = false
  let overflowed = false
  let notShown = 0
  let alert = null

  function setState(name, text) {
    bar.dataset.state = name
    state.textContent = text
  }

  function render() {
    if (paused) setState('paused', overflowed ? 'Paused: too many changes to hold' : `Paused · ${held.length} ${held.length === 1 ? 'change' : 'changes'} held`)
    const parts = []
    if (alert !== null) parts.push(alert)
    if (notShown > 0) parts.push(`${notShown} new ${notShown === 1 ? 'row' : 'rows'} not shown: ${live.why ?? 'they may not match the filters'}`)
    notice.replaceChildren()
    if (parts.length > 0 || overflowed) {
      notice.append(
        overflowed ? 'Too many changes arrived while paused. ' : '',
        parts.join('. '),
        parts.length ? ' — ' : '',
        el('a', { href: location.href }, 'reload'),
      )
    }
  }

  function apply(change) {
    if (!change || typeof change !== 'object') return
    const facts = valuesOf(change)
    if (facts.unknownColumns) alert = 'The table has new columns'
    const shown = facts.urlKey === null ? undefined : [...body.rows].find((tr) => tr.dataset.key === facts.urlKey)
    if (change.op === 'delete') {
      if (shown) markDeleted(shown, change)
    } else if (shown) {
      if (!shown.classList.contains('live-deleted')) updateRow(shown, change, facts)
      else {
        // Written again after a delete: the row is back, with what this change set.
        shown.replaceWith(newRow(change, facts))
      }
    } else if (change.op !== 'update') {
      const verdict = live.placement === 'top' ? passes(facts) : undefined
      if (verdict === true) {
        body.prepend(newRow(change, facts))
        added++
        if (count) count.textContent = `${countAtLoad} · ${added} added live`
        const liveRows = body.querySelectorAll('tr.live-new')
        for (let i = MAX_LIVE_ROWS; i < liveRows.length; i++) liveRows[i].remove()
      } else if (verdict === undefined) notShown++
    }
  }

  pause.addEventListener('click', () => {
    paused = !paused
    pause.textContent = paused ? 'Resume' : 'Pause'
    pause.setAttribute('aria-pressed', String(paused))
    if (!paused) {
      for (const change of held.splice(0)) apply(change)
      if (source.readyState === EventSource.OPEN) setState('live', 'Live')
      else if (source.readyState === EventSource.CONNECTING) setState('connecting', 'Reconnecting…')
      else setState('stopped', 'Stopped')
    }
    render()
  })

  const source = new EventSource(live.changes)
  source.addEventListener('open', () => {
    if (!paused) setState('live', 'Live')
  })
  source.addEventListener('message', (event) => {
    const change = parseChange(event.data)
    if (paused) {
      if (held.length < MAX_HELD) held.push(change)
      else overflowed = true
    } else apply(change)
    render()
  })
  source.addEventListener('gap', () => {
    alert = 'Some changes could not be followed'
    render()
  })
  source.addEventListener('dropped', (event) => {
    source.close()
    let reason = ''
    try {
      reason = JSON.parse(event.data).reason
    } catch {}
    setState('stopped', 'Stopped')
    alert = `Live updates stopped${reason ? `: ${reason}` : ''}`
    render()
  })
  source.addEventListener('error', () => {
    // EventSource retries by itself (sending the last id it saw); CLOSED means it gave up, e.g. on an error status.
    if (source.readyState === EventSource.CLOSED) {
      if (bar.dataset.state !== 'stopped') {
        setState('stopped', 'Stopped')
        alert = 'Live updates are not available'
        render()
      }
    } else if (!paused) setState('connecting', 'Reconnecting…')
  })
})()
