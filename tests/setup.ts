/** Preloaded by bunfig.toml: what the whole test run shares, done once after its last file. */
import { afterAll } from 'bun:test'
import { removeTempDirs } from './helpers'

afterAll(removeTempDirs)
