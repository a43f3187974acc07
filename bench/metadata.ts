/** The token every benchmark with auth sends, and the metadata.json that grants it writes (as datasette-insert's allow). */
export const BENCH_TOKEN = 'secret-token'

export const BENCH_METADATA = {
  plugins: {
    'datasette-insert': { allow: { id: 'bench' } },
    'datasette-auth-tokens': { tokens: [{ token: BENCH_TOKEN, actor: { id: 'bench' } }] },
  },
}
