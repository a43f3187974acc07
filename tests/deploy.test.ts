/** deploy/: the systemd unit, the Litestream config and the README's metadata, checked as far as this machine can. */
import { describe, expect, test } from 'bun:test'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs, type ServeCommand } from '../lib/cli'
import { loadConfig } from '../lib/config'
import { tempDir } from './helpers'
import { runCli } from './process'

const DEPLOY = join(import.meta.dir, '..', 'deploy')
const LITESTREAM = join(import.meta.dir, '..', 'node_modules', '@flydotio', 'litestream-linux-x64', 'litestream')
const unit = readFileSync(join(DEPLOY, 'rowpost.service'), 'utf8')
const directive = (name: string) =>
  unit
    .split('\n')
    .find((line) => line.startsWith(`${name}=`))
    ?.slice(name.length + 1)
const systemdAnalyze = Bun.which('systemd-analyze')
if (!systemdAnalyze) console.log('tests/deploy.test.ts: systemd-analyze is missing, so the unit is not verified by systemd (apt-get install systemd)')

/** ExecStart: litestream replicate -config FILE -exec "rowpost ...". */
function execStart() {
  const match = /^(\S+) replicate -config (\S+) -exec "([^"]+)"$/.exec(directive('ExecStart') ?? '')
  if (!match) throw new Error(`ExecStart is not litestream replicate -config FILE -exec "...": ${directive('ExecStart')}`)
  const [binary, ...args] = match[3]!.split(' ')
  return { litestream: match[1]!, config: match[2]!, binary: binary!, args }
}

/** The unit with Litestream's path on this machine, which systemd-analyze checks for an executable. */
function localUnit(): string {
  const path = join(tempDir(), 'rowpost.service')
  writeFileSync(path, unit.replace(execStart().litestream, LITESTREAM))
  return path
}

describe('deploy/rowpost.service', () => {
  test('rowpost accepts the command the unit runs: the state directory database, the metadata, loopback, Litestream checkpoints, JSON logs', async () => {
    const { binary, args, config } = execStart()
    expect(binary).toBe('/usr/local/bin/rowpost')
    expect(config).toBe('/etc/rowpost/litestream.yml')
    const command = parseArgs(args) as ServeCommand
    expect(command).toMatchObject({
      command: 'serve',
      files: [`/var/lib/${directive('StateDirectory')}/data.db`],
      create: true,
      metadata: '/etc/rowpost/metadata.json',
      host: '127.0.0.1',
      port: 8001,
      logFormat: 'json',
      unsafe: false,
    })
    expect(command.settings.litestream).toBe('on')
    expect(directive('ReadWritePaths')).toBe(`/var/lib/${directive('StateDirectory')}`)
    const help = (await runCli(['--help'])).stdout
    for (const flag of args.filter((arg) => arg.startsWith('-'))) expect(help).toContain(flag)
  })

  test('runs as its own user, with secrets from a file, under a strict sandbox', () => {
    expect([
      directive('User'),
      directive('Group'),
      directive('EnvironmentFile'),
      directive('NoNewPrivileges'),
      directive('ProtectSystem'),
      directive('CapabilityBoundingSet'),
    ]).toEqual(['rowpost', 'rowpost', '/etc/rowpost/rowpost.env', 'yes', 'strict', ''])
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=yes/m)
  })

  test.skipIf(!systemdAnalyze)('systemd-analyze verifies the unit and rates its exposure OK', () => {
    const path = localUnit()
    const verify = Bun.spawnSync([systemdAnalyze!, 'verify', path], { stderr: 'pipe' })
    expect({ exitCode: verify.exitCode, stderr: verify.stderr.toString() }).toEqual({ exitCode: 0, stderr: '' })
    const security = Bun.spawnSync([systemdAnalyze!, 'security', '--offline=yes', path], { stdout: 'pipe' }).stdout.toString()
    const exposure = Number(/Overall exposure level for rowpost\.service: ([\d.]+)/.exec(security)?.[1])
    expect(exposure).toBeLessThan(2)
  })
})

describe('deploy/litestream.yml', () => {
  test('Litestream loads it and replicates the database the unit serves to S3', () => {
    const env = { ...process.env, ROWPOST_BACKUP_BUCKET: 'bucket', ROWPOST_BACKUP_ENDPOINT: 'https://s3.invalid', ROWPOST_BACKUP_REGION: 'auto' }
    const listed = Bun.spawnSync([LITESTREAM, 'databases', '-config', join(DEPLOY, 'litestream.yml')], { env, stdout: 'pipe', stderr: 'pipe' })
    expect(listed.exitCode).toBe(0)
    const served = (parseArgs(execStart().args) as ServeCommand).files[0]!
    expect(listed.stdout.toString().split('\n')[1]!.split(/\s+/)).toEqual([served, 's3'])
  })
})

describe('deploy/README.md', () => {
  test('its metadata.json passes the validation the server runs, with every action it names known', () => {
    const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8')
    const path = join(tempDir(), 'metadata.json')
    writeFileSync(path, /```json\n([\s\S]*?)```/.exec(readme)![1]!)
    const config = loadConfig(path, { INSERT_TOKEN: 'a', METRICS_TOKEN: 'b' })
    expect(config.ignoredActions).toEqual([])
    expect(config.tokens.map((grant) => grant.actor)).toEqual([{ id: 'writer' }, { id: 'prometheus' }])
  })
})
