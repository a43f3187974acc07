/**
 * What each write route needs on the table it names, declared once and enforced in one order: a caller who may not see
 * the table has its permissions checked before any lookup whose answer (404, a stored replay, a schema) would tell it
 * something; a caller who may see it keeps Datasette's order (lookups first, then 403).
 */
import { PermissionDenied } from '../errors'
import { canView, type Action } from '../permissions'
import type { AppContext } from './context'

/** One permission a route needs, with the 403 message Datasette gives when it is missing. */
export interface Need {
  action: Action
  message: string
}

const need = (action: Action, message = 'Permission denied'): Need => ({ action, message })
const UPSERT_DENIED = 'Permission denied: need both insert-row and update-row'

/** What the path alone demands of the caller, on the table it names. */
export const ROUTE_NEEDS = {
  insert: [need('insert-row')],
  upsert: [need('insert-row', UPSERT_DENIED), need('update-row', UPSERT_DENIED)],
  update: [need('update-row')],
  delete: [need('delete-row')],
  drop: [need('drop-table')],
  /** datasette-insert asked for both on every write, even a plain insert. */
  legacy: [need('insert-row'), need('update-row')],
  legacyAlter: [need('alter-table', 'Alter permission denied')],
  /** Its answer shows the table's schema before and after, a read of the table. */
  alter: [need('alter-table', 'Permission denied: need alter-table'), need('view-table', 'Permission denied: need view-table to see the altered schema')],
} satisfies Record<string, Need[]>

/**
 * What `/-/alter`'s rename_table adds, on the new name: the renamed table falls under that name's table rules from
 * then on, so they must let the caller alter it too. Datasette asks nothing more than alter-table on the old name.
 */
export const renameTableNeeds = (to: string): Need[] => [need('alter-table', `Permission denied: need alter-table on ${to} to rename a table to it`)]

/**
 * What a body option adds. `view-table` stands for seeing the table, which takes the instance and the database too:
 * rows sent back by a write are a read of the table.
 */
export const OPTION_NEEDS = {
  replace: need('update-row', 'Permission denied: need update-row to use "replace"'),
  alter: need('alter-table', 'Permission denied for alter-table'),
  return: need('view-table', 'Permission denied: need view-table to use "return" (rows sent back are a read of the table)'),
} satisfies Record<string, Need>

/** What a database route asks of the database itself, before its body is read. */
export const DATABASE_NEEDS = {
  /** Datasette's execute-write-sql also requires view-database, so a caller who may not see the database is refused too. */
  executeWrite: [need('execute-write-sql', 'Permission denied: need execute-write-sql')],
} satisfies Record<string, Need[]>

/** Throws PermissionDenied with the message of the first database need the caller lacks. */
export function requireOnDatabase(context: AppContext, request: Request, database: string, needs: Need[]): void {
  for (const { action, message } of needs) {
    const seen = action !== 'execute-write-sql' || canView(context.policy, context.actorOf(request), { database })
    if (!seen || !context.allowed(request, action, { database })) throw new PermissionDenied(message)
  }
}

/**
 * What one operation of a /-/execute-write statement needs, each with Datasette's message naming the action and the
 * resource (`data/dogs`, or `data` for create-table, which is asked of the database).
 */
export function statementNeeds(database: string, table: string, actions: Action[]): Need[] {
  return actions.map((action) => need(action, `Permission denied: need ${action} on ${action === 'create-table' ? database : `${database}/${table}`}`))
}

/** Naming a table as a foreign-key target shows its key and columns: a read of that table. */
export const foreignKeyTargetNeeds = (table: string): Need[] => [
  need('view-table', `Permission denied: need view-table on ${table} to reference it in a foreign key`),
]

/** The needs of the options a body turned on. */
export function optionNeeds(options: Partial<Record<keyof typeof OPTION_NEEDS, boolean>>): Need[] {
  return (Object.keys(OPTION_NEEDS) as Array<keyof typeof OPTION_NEEDS>).filter((option) => options[option]).map((option) => OPTION_NEEDS[option])
}

/** One request's access to one table of one database. */
export class TableAccess {
  /** Whether the caller may see the table (instance, database and table visible), as the read routes decide. */
  readonly visible: boolean

  constructor(
    private readonly context: AppContext,
    private readonly request: Request,
    readonly database: string,
    readonly table: string,
  ) {
    this.visible = canView(context.policy, context.actorOf(request), { database, table })
  }

  /** Throws PermissionDenied with the message of the first need the caller lacks. */
  require(needs: Need[]): void {
    for (const { action, message } of needs) {
      const granted = action === 'view-table' ? this.visible : this.context.allowed(this.request, action, { database: this.database, table: this.table })
      if (!granted) throw new PermissionDenied(message)
    }
  }

  /**
   * Runs `find`, a lookup that may answer 404 or replay a stored response, with `needs` checked around it: before it
   * when the caller may not see the table (so its answer leaks nothing), after it otherwise (Datasette's order).
   */
  async lookup<T>(needs: Need[], find: () => T | Promise<T>): Promise<T> {
    if (!this.visible) this.require(needs)
    const found = await find()
    if (this.visible) this.require(needs)
    return found
  }
}
