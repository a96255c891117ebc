// Module-resolution hooks (registered with module.register) that map the k6
// built-in modules to the shims beside this file.
const shims = {
  k6: new URL("./k6.js", import.meta.url).href,
  "k6/http": new URL("./http.js", import.meta.url).href
}

export async function resolve(specifier, context, nextResolve) {
  const shim = shims[specifier]
  if (shim !== undefined) return { url: shim, format: "module", shortCircuit: true }
  return nextResolve(specifier, context)
}
