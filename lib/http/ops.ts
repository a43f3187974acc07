/** The operations routes: /-/health for load balancers and supervisors, /-/metrics for Prometheus. */
import { Elysia } from 'elysia'
import { PermissionDenied } from '../errors'
import type { Metrics } from '../ops/metrics'
import { canView } from '../permissions'
import type { AppContext } from './context'
import { jsonResponse } from './respond'

export function opsRoutes(context: AppContext, metrics: Metrics) {
  return new Elysia({ name: 'rowpost-ops' })
    .get(
      '/-/health',
      async function health({ request }) {
        // Anyone may ask (a load balancer sends no token); only databases the caller may see are named with their reasons.
        const actor = context.actorOf(request)
        const stuckAfterMs = Math.max(1000, context.settings.busy_timeout_ms)
        const databases: Record<string, { ok: boolean; reason?: string }> = {}
        let ready = true
        for (const database of context.databases.values()) {
          const health = await database.health(stuckAfterMs)
          ready &&= health.ok
          if (canView(context.policy, actor, { database: database.name })) databases[database.name] = health
        }
        return jsonResponse({ ok: ready, live: true, ready, databases }, ready ? 200 : 503)
      },
      { detail: { summary: 'Liveness and readiness: 200 when every database can take writes, 503 with the reasons when one cannot' } },
    )
    .get(
      '/-/health/live',
      function live() {
        return jsonResponse({ ok: true, live: true })
      },
      { detail: { summary: 'Liveness alone: 200 whenever the process answers' } },
    )
    .get(
      '/-/metrics',
      async function metricsText({ request }) {
        if (!context.allowed(request, 'view-metrics')) throw new PermissionDenied('Permission denied: need view-metrics')
        return new Response(await metrics.text(), { headers: { 'content-type': metrics.contentType } })
      },
      { detail: { summary: 'Prometheus metrics (text format); needs view-metrics, which follows view-instance unless granted at the root' } },
    )
}
