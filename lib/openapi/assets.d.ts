/** Swagger UI's files, imported `with { type: 'file' }`: Bun gives their path (embedded in a compiled binary). */
declare module 'swagger-ui-dist/*' {
  const path: string
  export default path
}
