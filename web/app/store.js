// The app's storage: one IndexedDB object store of keys (strings) and
// bytes, written a transaction at a time with strict durability (the
// commit resolves once the browser says the data is on disk). What the
// keys mean is the Go half's (app/persist.go).
const NAME = 'hearth'
const KV = 'kv'

function request (r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
}

export async function openStore () {
  const open = indexedDB.open(NAME, 1)
  open.onupgradeneeded = () => open.result.createObjectStore(KV)
  const db = await request(open)
  return {
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
