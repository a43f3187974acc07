/** Builds the compiled binary with the command of `bun run build`, to a folder of the test's choosing. */
import { join } from 'node:path'

const ROOT = join(import.meta.dir, '..')

/** Runs package.json's `build` script with its output redirected to `outfile`; throws with bun's output when it fails. */
export async function buildBinary(outfile: string): Promise<void> {
  const { scripts } = await Bun.file(join(ROOT, 'package.json')).json()
  const script: string = scripts.build
  if (!script.includes('--outfile dist/rowpost')) throw new Error(`package.json's build script no longer writes dist/rowpost: ${script}`)
  const args = script.replace('--outfile dist/rowpost', `--outfile ${outfile}`).split(' ')
  const child = Bun.spawn(args, { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  if (exitCode !== 0) throw new Error(`${script} failed (${exitCode}): ${stdout}${stderr}`)
}
