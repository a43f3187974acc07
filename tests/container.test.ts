/**
 * The Containerfile, built and run with the real podman: the smoke set against the container, as a non-root user with
 * its database on a volume. This machine cannot pull images, so the build stage's Bun image is made from this
 * machine's own bun, sh and coreutils (with the libraries ldd names) by `podman import`; podman runs with runc and
 * low ulimits through a containers.conf, as it needs here.
 */
import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, copyFileSync, mkdirSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import packageJson from '../package.json'
import { tempDir } from './helpers'
import { SMOKE_METADATA, smokeRequests } from './smoke'

const ROOT = join(import.meta.dir, '..')
const PODMAN = Bun.which('podman')
if (!PODMAN) console.log('tests/container.test.ts skipped: podman is not installed (.ci/run installs it: apt-get install podman runc)')
const BASE_IMAGE = 'localhost/rowpost-test-bun-base'
const IMAGE = 'localhost/rowpost-test'
const SECRET = 'container-test-secret-0123456789abcdef0123456789'
const TOOLS = [Bun.which('bun')!, '/bin/sh', '/bin/mkdir', '/bin/cp', '/bin/chown', '/bin/chmod']
let env: Record<string, string>

function podman(args: string[], timeoutMs = 60_000) {
  const result = Bun.spawnSync([PODMAN!, ...args], { env, stdout: 'pipe', stderr: 'pipe', timeout: timeoutMs })
  return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() }
}

function podmanOk(args: string[], timeoutMs?: number): string {
  const result = podman(args, timeoutMs)
  if (result.exitCode !== 0) throw new Error(`podman ${args.join(' ')} failed (${result.exitCode}): ${result.stderr.slice(-2000)}`)
  return result.stdout
}

/** A root filesystem holding `TOOLS` at their paths and every library ldd names for them, as a tar for podman import. */
function hostRootfs(): string {
  const rootfs = join(tempDir(), 'rootfs')
  const place = (path: string, from = path) => {
    mkdirSync(join(rootfs, dirname(path)), { recursive: true })
    copyFileSync(realpathSync(from), join(rootfs, path))
  }
  for (const tool of TOOLS) {
    const target = tool === Bun.which('bun') ? '/usr/bin/bun' : tool
    place(target, tool)
    const libraries =
      Bun.spawnSync(['ldd', realpathSync(tool)])
        .stdout.toString()
        .match(/\/\S+/g) ?? []
    for (const library of libraries) place(library)
  }
  for (const folder of ['tmp', 'root', 'etc']) mkdirSync(join(rootfs, folder), { recursive: true })
  chmodSync(join(rootfs, 'tmp'), 0o1777)
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n')
  const tar = `${rootfs}.tar`
  if (Bun.spawnSync(['tar', '-C', rootfs, '-cf', tar, '.']).exitCode !== 0) throw new Error('tar failed')
  return tar
}

describe.skipIf(!PODMAN)('the container image', () => {
  beforeAll(() => {
    const conf = join(tempDir(), 'containers.conf')
    writeFileSync(conf, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\n')
    env = { ...(process.env as Record<string, string>), CONTAINERS_CONF: conf }
    podmanOk(['import', '-q', hostRootfs(), BASE_IMAGE])
    // The build installs the locked packages from the registry, through this machine's network (and its CA, if it has one).
    const ca = process.env.NODE_EXTRA_CA_CERTS ? ['-v', `${process.env.NODE_EXTRA_CA_CERTS}:/ca.pem:ro`, '--build-arg', 'NODE_EXTRA_CA_CERTS=/ca.pem'] : []
    podmanOk(
      ['build', '--layers=false', '--network', 'host', ...ca, '--build-arg', `BUN_IMAGE=${BASE_IMAGE}`, '-t', IMAGE, '-f', join(ROOT, 'Containerfile'), ROOT],
      300_000,
    )
  }, 320_000)

  afterAll(() => {
    if (PODMAN) podman(['rmi', '-f', IMAGE, BASE_IMAGE])
  })

  test('runs as a non-root user from an image holding only the binary and its libraries', () => {
    expect(podmanOk(['image', 'inspect', IMAGE, '--format', '{{.Config.User}} {{json .Config.Volumes}}']).trim()).toBe('10001:10001 {"/data":{}}')
    const version = podman(['run', '--rm', IMAGE, '--version'])
    expect({ exitCode: version.exitCode, stdout: version.stdout }).toEqual({ exitCode: 0, stdout: `rowpost ${packageJson.version}\n` })
    // No shell in the runtime image: only what the binary needs.
    expect(podman(['run', '--rm', '--entrypoint', '/bin/sh', IMAGE, '-c', 'true']).exitCode).not.toBe(0)
  })

  test('serves the smoke set with a token over a published port, keeps the database on the volume, and stops cleanly', async () => {
    const volume = tempDir()
    chmodSync(volume, 0o777)
    writeFileSync(join(volume, 'metadata.json'), SMOKE_METADATA)
    const token = podmanOk(['run', '--rm', '-e', `ROWPOST_SECRET=${SECRET}`, IMAGE, 'create-token', 'root']).trim()
    expect(token).toMatch(/^dstok_/)
    const name = `rowpost-test-${process.pid}`
    podmanOk(['run', '-d', '--name', name, '-e', `ROWPOST_SECRET=${SECRET}`, '-v', `${volume}:/data`, '-p', '127.0.0.1::8001', IMAGE])
    try {
      const port = /127\.0\.0\.1:(\d+)/.exec(podmanOk(['port', name, '8001']))![1]
      const url = `http://127.0.0.1:${port}`
      for (
        let tries = 0;
        !(await fetch(`${url}/-/health`).then(
          (response) => response.ok,
          () => false,
        ));
        tries++
      ) {
        if (tries > 100) throw new Error(`the container did not answer: ${podman(['logs', name]).stderr}`)
        await Bun.sleep(100)
      }
      await smokeRequests(url, token)
      podmanOk(['stop', '-t', '15', name])
      expect(podmanOk(['inspect', name, '--format', '{{.State.ExitCode}}']).trim()).toBe('0')
      const logs = podman(['logs', name])
      expect(logs.stdout + logs.stderr).toContain('rowpost: SIGTERM: finishing in-flight requests')
      const database = join(volume, 'data.db')
      expect(statSync(database).uid).toBe(10001)
      const file = new Database(database, { readonly: true })
      expect(file.query('SELECT id, name FROM dogs ORDER BY id').all()).toEqual([
        { id: 1, name: 'Cleo' },
        { id: 2, name: 'Pancakes' },
      ])
      file.close()
    } finally {
      podman(['rm', '-f', name])
    }
  }, 60_000)
})
