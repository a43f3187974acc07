// rowpost.js is a browser script, imported as text (`with { type: 'text' }`) so the server and the compiled binary carry it.
declare const script: string
export default script
