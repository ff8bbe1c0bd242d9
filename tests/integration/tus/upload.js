#!/usr/bin/env node
// Uploads one file with the real tus-js-client (Node.js) and prints one JSON line at the end.
// Used by tests/integration/test_tus_client.py; install its one dependency first:
//   npm ci --prefix tests/integration/tus
//
// usage: node upload.js FILE ENDPOINT [options]
//   ENDPOINT                 creation URL, e.g. http://127.0.0.1:8080/uploads/
//   --chunk-size N           bytes per PATCH (default: the whole rest of the file in one PATCH)
//   --parallel N             parallelUploads: N partial uploads, then a final concatenation
//   --retry-delays a,b,c     retryDelays in ms; "none" disables retries (default: none)
//   --metadata key=value     Upload-Metadata entry (repeatable), e.g. --metadata filename=a.bin
//   --upload-url URL         resume the upload at URL (HEAD, then PATCH from its offset)
//   --store-fingerprint PATH keep upload URLs in the JSON file PATH (tus FileUrlStorage); a later
//                            run with the same PATH and FILE resumes the stored upload
//   --stop-after-bytes N     abort (upload.abort()) once onProgress passes N bytes
//   --timeout SECONDS        give up (exit 1) after this long (default 120)
//   --override-patch         send each PATCH as POST with X-HTTP-Method-Override: PATCH
//   --data-during-creation   send the first chunk with the POST (creation-with-upload)
//   --defer-length           read FILE as a plain stream of unknown size (Upload-Defer-Length: 1;
//                            the length goes with the last PATCH); needs --chunk-size
//   --no-head                skip the HEAD of the upload URL after success
//   --protocol P             tus-v1 (default), ietf-draft-03 or ietf-draft-05 (tus-js-client's
//                            protocol option: the IETF resumable-upload draft, interop 5 or 6)
//
// Output (one line on stdout):
//   {ok, complete, stopped, url, bytesUploaded (the most onProgress reported sent; the size once
//    complete), bytesTotal, lastResponseStatus,
//    lastResponseHeaders: {upload-offset, sluice-file, ...}, head: {status, headers},
//    requests: [{method, url, sent: {upload-offset, ...}, status, resHeaders}] (every request
//    in order; status null: no response), resumedFrom, error}
// ok: no error (a requested stop is not an error); complete: the upload finished.
// Exit status: 0 when ok, 1 on an error or a timeout, 64 on bad usage.
'use strict'

const fs = require('fs')
const http = require('http')
const path = require('path')

let tus
try {
  tus = require('tus-js-client')
} catch (e) {
  process.stdout.write(JSON.stringify({
    ok: false,
    error: `cannot load tus-js-client (run: npm ci --prefix ${path.relative(process.cwd(), __dirname) || '.'}): ${e.message}`,
  }) + '\n')
  process.exit(1)
}

function usage(msg) {
  process.stderr.write(`upload.js: ${msg}\nusage: node upload.js FILE ENDPOINT [--chunk-size N] ` +
    '[--parallel N] [--retry-delays a,b,c|none] [--metadata k=v]... [--upload-url URL] ' +
    '[--store-fingerprint PATH] [--stop-after-bytes N] [--timeout S] [--override-patch] ' +
    '[--data-during-creation] [--defer-length] [--no-head] [--protocol P]\n')
  process.exit(64)
}

function parseArgs(argv) {
  const o = { metadata: {}, retryDelays: null, timeout: 120, head: true }
  const pos = []
  const num = (name, v) => {
    if (v === undefined || !/^\d+$/.test(v)) usage(`${name} needs a non-negative integer, got ${v}`)
    return Number(v)
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`)
      return argv[++i]
    }
    switch (a) {
      case '--chunk-size': o.chunkSize = num(a, val()); break
      case '--parallel': o.parallel = num(a, val()); break
      case '--retry-delays': {
        const v = val()
        o.retryDelays = v === 'none' ? null : v.split(',').map((x) => num(a, x.trim()))
        break
      }
      case '--metadata': {
        const v = val()
        const eq = v.indexOf('=')
        if (eq <= 0) usage(`--metadata needs key=value, got ${v}`)
        o.metadata[v.slice(0, eq)] = v.slice(eq + 1)
        break
      }
      case '--upload-url': o.uploadUrl = val(); break
      case '--store-fingerprint': o.fingerprintStore = val(); break
      case '--stop-after-bytes': o.stopAfter = num(a, val()); break
      case '--timeout': o.timeout = num(a, val()); break
      case '--no-head': o.head = false; break
      case '--protocol': o.protocol = val(); break
      case '--override-patch': o.overridePatch = true; break
      case '--data-during-creation': o.dataDuringCreation = true; break
      case '--defer-length': o.deferLength = true; break
      default:
        if (a.startsWith('--')) usage(`unknown option ${a}`)
        pos.push(a)
    }
  }
  if (pos.length !== 2) usage('need FILE and ENDPOINT')
  ;[o.file, o.endpoint] = pos
  return o
}

const opts = parseArgs(process.argv.slice(2))
const result = {
  ok: false,
  complete: false,
  stopped: false,
  url: null,
  bytesUploaded: 0,
  bytesTotal: null,
  lastResponseStatus: null,
  lastResponseHeaders: null,
  head: null,
  requests: [],
  resumedFrom: null,
  error: null,
}
let finished = false
const pending = new Map()

function finish(code) {
  if (finished) return
  finished = true
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code))
}

function fail(err) {
  result.ok = false
  result.error = err && err.message ? err.message : String(err)
  finish(1)
}

const watchdog = setTimeout(
  () => fail(new Error(`timeout after ${opts.timeout}s`)),
  opts.timeout * 1000,
)

// HEAD the upload URL (plain http, outside tus-js-client) so the caller sees what the server
// reports for the finished upload, e.g. Sluice-File for a concatenation.
function head(url) {
  return new Promise((resolve) => {
    const options = { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' }, agent: false }
    const req = http.request(url, options, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }))
    })
    req.on('error', (e) => resolve({ status: 0, error: e.message }))
    req.setTimeout(10000, () => req.destroy(new Error('HEAD timed out')))
    req.end()
  })
}

// tus-js-client removes a finished upload from the URL storage without waiting for it (the file
// is written under a lock): wait up to tries * 100 ms for that before exiting.
function forgotten(tries, cb) {
  upload.findPreviousUploads().then(
    (previous) => {
      if (previous.every((p) => p.uploadUrl !== upload.url) || tries <= 0) cb()
      else setTimeout(() => forgotten(tries - 1, cb), 100)
    },
    () => cb(),
  )
}

try {
  result.bytesTotal = fs.statSync(opts.file).size
} catch (e) {
  result.error = `cannot read ${opts.file}: ${e.message}`
  fs.writeSync(1, JSON.stringify(result) + '\n')
  process.exit(1)
}

const uploadOptions = {
  endpoint: opts.endpoint,
  metadata: opts.metadata,
  retryDelays: opts.retryDelays,
  removeFingerprintOnSuccess: true,
  // every request, in order; one that got no response keeps status null
  onBeforeRequest(req) {
    const entry = { method: req.getMethod(), url: req.getURL(), status: null, sent: {} }
    for (const h of ['Upload-Offset', 'Upload-Length', 'Upload-Concat', 'Upload-Metadata',
      'Upload-Defer-Length', 'X-HTTP-Method-Override', 'Upload-Complete',
      'Upload-Draft-Interop-Version', 'Content-Type']) {
      const v = req.getHeader(h)
      if (v !== undefined) entry.sent[h.toLowerCase()] = v
    }
    pending.set(req, entry)
    result.requests.push(entry)
  },
  onAfterResponse(req, res) {
    const entry = pending.get(req)
    if (!entry) return
    pending.delete(req)
    entry.status = res.getStatus()
    entry.resHeaders = res.getUnderlyingObject().headers
  },
  onProgress(bytesSent, bytesTotal) {
    result.bytesUploaded = Math.max(result.bytesUploaded, bytesSent)
    if (opts.stopAfter !== undefined && !result.stopped && bytesSent >= opts.stopAfter) {
      result.stopped = true
      result.bytesUploaded = bytesSent
      result.url = upload.url
      upload.abort().then(
        () => {
          result.ok = true
          finish(0)
        },
        (e) => fail(e),
      )
    }
  },
  onSuccess({ lastResponse }) {
    result.url = upload.url
    result.complete = true
    result.bytesUploaded = result.bytesTotal
    if (lastResponse) {
      result.lastResponseStatus = lastResponse.getStatus()
      result.lastResponseHeaders = lastResponse.getUnderlyingObject().headers
    }
    const done = () => {
      result.ok = true
      clearTimeout(watchdog)
      finish(0)
    }
    const afterHead = () => (opts.fingerprintStore === undefined ? done() : forgotten(20, done))
    if (opts.head && upload.url) {
      head(upload.url).then((h) => {
        result.head = h
        afterHead()
      })
    } else {
      afterHead()
    }
  },
  onError(err) {
    result.url = upload.url
    if (err.originalResponse) {
      result.lastResponseStatus = err.originalResponse.getStatus()
      const u = err.originalResponse.getUnderlyingObject()
      result.lastResponseHeaders = u ? u.headers : null
    }
    fail(err)
  },
}
if (opts.chunkSize !== undefined) uploadOptions.chunkSize = opts.chunkSize
if (opts.protocol !== undefined) uploadOptions.protocol = opts.protocol
if (opts.parallel !== undefined) uploadOptions.parallelUploads = opts.parallel
if (opts.uploadUrl !== undefined) uploadOptions.uploadUrl = opts.uploadUrl
if (opts.overridePatch) uploadOptions.overridePatchMethod = true
if (opts.dataDuringCreation) uploadOptions.uploadDataDuringCreation = true
if (opts.deferLength) {
  if (opts.chunkSize === undefined) usage('--defer-length needs --chunk-size')
  uploadOptions.uploadLengthDeferred = true
}
if (opts.fingerprintStore !== undefined) {
  uploadOptions.urlStorage = new tus.FileUrlStorage(opts.fingerprintStore)
  uploadOptions.storeFingerprintForResuming = true
} else {
  uploadOptions.storeFingerprintForResuming = false
}

// A path-backed ReadStream: tus-js-client reads slices of the file by position (so it can resume
// at any offset and split the file for parallelUploads) and fingerprints it by path and size.
// With --defer-length the file goes through a PassThrough: a stream with no path and no size.
const input = opts.deferLength
  ? fs.createReadStream(opts.file).pipe(new (require('stream').PassThrough)())
  : fs.createReadStream(opts.file)
const upload = new tus.Upload(input, uploadOptions)

function start() {
  if (opts.fingerprintStore === undefined || opts.uploadUrl !== undefined) {
    upload.start()
    return
  }
  upload.findPreviousUploads().then(
    (previous) => {
      if (previous.length > 0) {
        // the most recent one
        previous.sort((a, b) => new Date(b.creationTime) - new Date(a.creationTime))
        result.resumedFrom = previous[0].uploadUrl || previous[0].parallelUploadUrls || null
        upload.resumeFromPreviousUpload(previous[0])
      }
      upload.start()
    },
    (e) => fail(e),
  )
}

start()
