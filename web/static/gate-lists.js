// The admission lists an offline gate keeps (IndexedDB), and the scans it queued while
// offline. A list is every paid ticket of one event with no personal data: ticket ids, a
// hash of each short code, types and check-ins (GET /api/gate/events/{slug}/admission-list).

const DB_NAME = "gate";
const LISTS = "lists";
const QUEUE = "queue";

let opened = null;
function db() {
  opened ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore(LISTS, { keyPath: "event.slug" });
      request.result.createObjectStore(QUEUE, { autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

async function run(store, mode, action) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const transaction = database.transaction(store, mode);
    const request = action(transaction.objectStore(store));
    transaction.oncomplete = () => resolve(request?.result);
    transaction.onerror = () => reject(transaction.error);
  });
}

// One event's list, indexed for a scan: by ticket id and by short-code hash.
export class AdmissionList {
  constructor(event, list, fetchedAt) {
    this.event = event; // as GET /api/gate/session gives it: name, timezone, closes_at
    this.raw = list;
    this.fetchedAt = fetchedAt;
    this.ids = list.ids ? list.ids.split(",") : [];
    this.byId = new Map(this.ids.map((id, index) => [id, index]));
    this.byHash = new Map();
    for (let index = 0; index < this.ids.length; index++) {
      this.byHash.set(list.short_hashes.slice(index * 8, index * 8 + 8), index);
    }
    this.checked = new Map(list.checked_in.map(([index, at, gate]) => [index, { at, gate }]));
  }

  get size() {
    return this.ids.length;
  }

  typeName(index) {
    const symbol = this.raw.type_of[index];
    const type = this.raw.types["0123456789abcdefghijklmnopqrstuvwxyz".indexOf(symbol)];
    return type?.name ?? "Ticket";
  }

  // Kept until the next list replaces it: this device let the ticket in.
  markIn(index, at, gate) {
    this.checked.set(index, { at, gate });
    this.raw.checked_in.push([index, at, gate]);
  }
}

export async function saveList(list) {
  await run(LISTS, "readwrite", (store) => store.put({ event: list.event, list: list.raw, fetchedAt: list.fetchedAt }));
}

export async function keptLists() {
  const rows = (await run(LISTS, "readonly", (store) => store.getAll())) ?? [];
  return rows.map((row) => new AdmissionList(row.event, row.list, row.fetchedAt));
}

export async function queueScan(scan) {
  await run(QUEUE, "readwrite", (store) => store.add(scan));
}

export async function queuedScans() {
  const database = await db();
  return new Promise((resolve, reject) => {
    const found = [];
    const transaction = database.transaction(QUEUE, "readonly");
    transaction.objectStore(QUEUE).openCursor().onsuccess = (event) => {
      const cursor = event.target.result;
      if (!cursor) return;
      found.push({ key: cursor.key, ...cursor.value });
      cursor.continue();
    };
    transaction.oncomplete = () => resolve(found);
    transaction.onerror = () => reject(transaction.error);
  });
}

export async function forgetScans(keys) {
  await run(QUEUE, "readwrite", (store) => {
    for (const key of keys) store.delete(key);
  });
}
