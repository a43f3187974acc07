/**
 * The entry point of the compiled binary (`bun run build`): rowpost's CLI, or a SQL query process when the binary was
 * started again by the query pool (lib/query/pool.ts), which cannot run worker.ts from disk inside a binary.
 */
import { QUERY_WORKER_ENV } from '../query/pool'

if (process.env[QUERY_WORKER_ENV] === '1') await import('../query/worker')
else await import('../../index')
