// Revoking a device from the page. A revocation is signed with the
// identity key, which comes from the 24 words: the words are read here,
// checked, turned into the key and the signature in this browser (Web
// Crypto: PBKDF2-SHA-512, HMAC-SHA-512, Ed25519), and only the signed
// revocation goes to the daemon. The steps are those of the CLI
// (p2p/identity): BIP39 seed, SLIP-0010 path m/48'/5338'/0'/0'/0', the
// revocation's bytes as record.go encodes them.
'use strict';

const revoking = { device: '', name: '' };
let wordIndex = null; // word -> index, read once from the daemon

const enc = new TextEncoder();
const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s) => Uint8Array.from(s.match(/../g) || [], (x) => parseInt(x, 16));
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const u64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n), true); return b; };

async function hmac512(key, data) {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-512' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, data));
}

// phraseWords checks the words as the CLI does: known words, 24 of them,
// the checksum. It throws an error a person can act on.
async function phraseWords(text) {
  if (!wordIndex) {
    const list = (await api('GET', '/api/wordlist')).words;
    wordIndex = new Map(list.map((w, i) => [w, i]));
  }
  const words = text.normalize('NFKD').toLowerCase().split(/\s+/).filter((w) => w);
  const bad = words.findIndex((w) => !wordIndex.has(w));
  if (bad >= 0) throw new Error(`word ${bad + 1} is not a recovery-phrase word`);
  if (words.length !== 24) throw new Error(`${words.length} words: the phrase has 24`);
  const bits = new Uint8Array(33);
  let pos = 0;
  for (const w of words) {
    const idx = wordIndex.get(w);
    for (let b = 10; b >= 0; b--, pos++) if ((idx >> b) & 1) bits[pos >> 3] |= 0x80 >> (pos & 7);
  }
  const sum = new Uint8Array(await crypto.subtle.digest('SHA-256', bits.slice(0, 32)));
  if (sum[0] !== bits[32]) throw new Error('the words do not check out (a word is wrong or out of order)');
  bits.fill(0);
  return words;
}

// identityKey derives the identity's Ed25519 key from the words.
async function identityKey(words, passphrase) {
  const pw = await crypto.subtle.importKey('raw', enc.encode(words.join(' ')), 'PBKDF2', false, ['deriveBits']);
  const seed = new Uint8Array(await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-512', salt: enc.encode('mnemonic' + passphrase.normalize('NFKD')), iterations: 2048 }, pw, 512));
  let i = await hmac512(enc.encode('ed25519 seed'), seed);
  seed.fill(0);
  for (const idx of [48, 5338, 0, 0, 0]) {
    const data = new Uint8Array(37);
    data.set(i.subarray(0, 32), 1);
    new DataView(data.buffer).setUint32(33, (idx | 0x80000000) >>> 0);
    const next = await hmac512(i.subarray(32), data);
    i.fill(0);
    data.fill(0);
    i = next;
  }
  // PKCS #8 of an Ed25519 private key: a fixed prefix and the 32 bytes.
  const der = cat(unhex('302e020100300506032b657004220420'), i.subarray(0, 32));
  i.fill(0);
  const key = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, true, ['sign']);
  der.fill(0);
  const jwk = await crypto.subtle.exportKey('jwk', key);
  const pub = Uint8Array.from(atob(jwk.x.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  jwk.d = '';
  return { key, pub: hex(pub) };
}

function askRevoke(device, name) {
  revoking.device = device;
  revoking.name = name;
  $('revoke-name').textContent = name + ' (' + short(device) + ')';
  $('revoke-form').hidden = false;
  $('revoke-phrase').focus();
}

function forgetWords() {
  $('revoke-phrase').value = '';
  $('revoke-pass').value = '';
}

async function doRevoke(ev) {
  ev.preventDefault();
  const button = $('revoke-go');
  button.disabled = true;
  try {
    showError('');
    const st = await api('GET', '/api/v1/status');
    const words = await phraseWords($('revoke-phrase').value);
    const pass = $('revoke-pass').value;
    forgetWords();
    const { key, pub } = await identityKey(words, pass);
    words.fill('');
    if (pub !== st.identity) throw new Error('these words (and passphrase) are of another identity');
    // The revocation's body: version 1, identity, device, epoch, time.
    const body = cat(Uint8Array.of(1), unhex(st.identity), unhex(revoking.device), u64(st.epoch), u64(Math.floor(Date.now() / 1000)));
    const sig = new Uint8Array(await crypto.subtle.sign('Ed25519', key, cat(enc.encode('hearth/revocation/v1\0'), body)));
    const r = await api('POST', '/api/v1/id/revocations', { revocation: hex(cat(body, sig)) });
    window.hearthRevoked = r;
    $('revoke-form').hidden = true;
    $('notice').textContent = `${revoking.name} is revoked: it can no longer write to your rooms, and what is written from now on is sealed without it.`;
    $('identity').hidden = true;
    showIdentity();
  } catch (e) {
    showError('revoke: ' + e.message);
  } finally {
    forgetWords();
    button.disabled = false;
  }
}

$('revoke-form').onsubmit = doRevoke;
$('revoke-cancel').onclick = () => { forgetWords(); $('revoke-form').hidden = true; };
