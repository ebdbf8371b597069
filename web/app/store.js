// The app's storage: one IndexedDB object store of keys (strings) and
// bytes, written a transaction at a time with strict durability (the
// commit resolves once the browser says the data is on disk). What the
// keys mean is the Go half's (app/persist.go). Files fetched are a second
// store, of plaintext chunks keyed [root, index], never loaded at start.
const NAME = 'hearth'
const KV = 'kv'
const FILES = 'files'

function request (r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
}

export async function openStore () {
  const open = indexedDB.open(NAME, 2)
  open.onupgradeneeded = () => {
    const names = open.result.objectStoreNames
    if (!names.contains(KV)) open.result.createObjectStore(KV)
    if (!names.contains(FILES)) open.result.createObjectStore(FILES)
  }
  const db = await request(open)
  const chunks = (root) => IDBKeyRange.bound([root, 0], [root, Infinity])
  const done = (tx) => new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error)
    tx.onabort = () => reject(tx.error ?? new Error('the storage transaction was aborted'))
  })
  return {
    // putChunk keeps chunk i of the file of root (hex).
    putChunk (root, i, bytes) {
      const tx = db.transaction(FILES, 'readwrite')
      tx.objectStore(FILES).put(bytes, [root, i])
      return done(tx)
    },
    // heldChunks → the indexes of the chunks held of the file of root.
    async heldChunks (root) {
      const keys = await request(db.transaction(FILES, 'readonly').objectStore(FILES).getAllKeys(chunks(root)))
      return keys.map((k) => k[1])
    },
    // fileBlob → the file of root as a Blob of type, if all its n chunks
    // are held; else null.
    async fileBlob (root, n, type) {
      const parts = await request(db.transaction(FILES, 'readonly').objectStore(FILES).getAll(chunks(root)))
      if (parts.length !== n) return null
      return new Blob(parts, { type: type || 'application/octet-stream' })
    },
    // dropFile forgets the chunks of the file of root.
    dropFile (root) {
      const tx = db.transaction(FILES, 'readwrite')
      tx.objectStore(FILES).delete(chunks(root))
      return done(tx)
    },
    // commit writes puts ([key, bytes] pairs) and deletes dels (keys),
    // all or nothing.
    commit (puts, dels) {
      return new Promise((resolve, reject) => {
        const tx = db.transaction(KV, 'readwrite', { durability: 'strict' })
        const kv = tx.objectStore(KV)
        for (const [k, v] of puts) kv.put(v, k)
        for (const k of dels) kv.delete(k)
        tx.oncomplete = () => resolve()
        tx.onerror = () => reject(tx.error)
        tx.onabort = () => reject(tx.error ?? new Error('the storage transaction was aborted'))
      })
    },
    // load returns every [key, bytes] pair, in key order.
    async load () {
      const tx = db.transaction(KV, 'readonly')
      const kv = tx.objectStore(KV)
      const [keys, values] = await Promise.all([request(kv.getAllKeys()), request(kv.getAll())])
      return keys.map((k, i) => [k, values[i]])
    },
    // estimate is what the browser says the origin stores and may store.
    async estimate () {
      return navigator.storage?.estimate ? navigator.storage.estimate() : {}
    }
  }
}
