// Pathlight session recorder: an ES module the page-view snippet imports (GET /record.js) for the sessions
// that `data-record` selects. It records the page with rrweb, masks it before anything leaves the browser,
// and posts the events in ordered, compressed chunks to POST /record. The chunk envelope is
// event-schema/src/record.rs (query string; the body is the chunk's bytes); ../README.md says what is
// recorded and masked. Nothing here may throw into the host page: every entry point runs through guard().
import { record } from "@rrweb/record";

// rrweb's event types and the incremental sources this file looks at.
const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const META = 4;
const MUTATION = 0;
const INPUT = 5;
// rrweb-snapshot's node type for elements.
const ELEMENT_NODE = 2;

// A batch is cut after this long...
const BATCH_MS = 5e3;
// ...or once its JSON reaches this many characters. Small batches are compressed and sent while the page
// lives; what is left when it is hidden goes uncompressed (compression is asynchronous) within a budget.
const BATCH_CHARS = 64 * 1024;
// One event above this is dropped (too_large). Even at 3 bytes per character its batch stays within the
// worker's 16 MiB of raw bytes and 256 parts of a sequence number.
const MAX_EVENT_CHARS = 4 * 1024 * 1024;
// The worker's largest body (RecordLimits::max_chunk_bytes): a larger batch is cut into parts of this size.
const PART_BYTES = 65536;
// Browsers allow 64 KiB of keepalive (and beacon) bodies in flight per page. The page-view snippet flushes
// at the same moments, and its listeners run first; a quarter is left to it.
const KEEPALIVE_BUDGET = 48 * 1024;
// The worker's highest sequence number: a tab that records that long stops.
const MAX_SEQ = 1e6;
// A full snapshot every 2 minutes, so a recording with a lost chunk plays again from the next one.
const CHECKOUT_MS = 120e3;
// Events kept per second on average, with a burst allowance: enough for a busy page (rrweb already samples
// mouse moves and scrolls); a mutation storm beyond it is dropped (throttled) and followed by a full snapshot.
const EVENTS_PER_SECOND = 100;
const EVENT_BURST = 1000;
// Fetch retries after a network error, a 5xx or a 429, as the snippet does: after 1 s, then 2 s.
const RETRIES = 2;

// Elements never recorded: rrweb keeps only their class and size, so the replay shows an empty box.
const BLOCKED = "img,picture,video,audio,canvas,iframe,frame,object,embed,image,input[type=image],[data-pl-block]";
// Opt-in to recording an element's text (and its descendants').
const UNMASK = "[data-pl-unmask]";
// Attributes that hold text a visitor reads or a screen reader speaks: masked like text.
const TEXT_ATTRIBUTES = new Set([
  "title",
  "placeholder",
  "alt",
  "label",
  "aria-label",
  "aria-description",
  "aria-roledescription",
  "aria-placeholder",
  "aria-valuetext",
]);
// Attributes masked on these elements whatever the opt-ins: form values (rrweb leaves them on hidden
// inputs, buttons and checkboxes), like every input value, and the content of the <meta> tags that slimDOM
// keeps (CSRF tokens, user ids).
const ALWAYS_MASKED = new Map([
  ["value", new Set(["input", "option", "button", "textarea", "select", "data"])],
  ["content", new Set(["meta"])],
]);
// What the worker accepts as drop reasons (event-schema's DropReason).
const DROP_REASONS = ["too_large", "throttled", "send_failed"];

const guard =
  (f) =>
  (...args) => {
    try {
      return f(...args);
    } catch (e) {}
  };

// Keeps the length and the spaces, so the replay keeps its layout.
const mask = (text) => (typeof text == "string" ? text.replace(/\S/g, "*") : text);

// Same 16-character ids as the snippet's session id: uniform over [A-Za-z0-9].
const randomId = () =>
  btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))
    .replace(/\W/g, "")
    .slice(0, 16);

// The snippet's rules for data-exclude: `*` matches any run of characters, the rest is literal, the whole
// path must match, case-insensitive.
const excludePattern = (list) =>
  list &&
  RegExp(
    "^(" +
      list
        .split(/ *, */)
        .map((p) => p.replace(/\W/g, "\\$&").replace(/\\\*/g, ".*"))
        .join("|") +
      ")$",
    "i",
  );

guard(() => {
  const tag = document.querySelector("script[data-site][data-record]") || document.querySelector("script[data-site]");
  const options = tag.dataset;
  const site = options.site;
  const sid = sessionStorage.pathlight_sid;
  if (!site || !sid) return;
  // The snippet's origin is this module's: POST /record goes there, or next to data-api's /track.
  const endpoint = new URL("/record", options.api || import.meta.url).href;
  const excluded = excludePattern(options.exclude);
  const withHash = "hash" in options;

  // --------------------------------------------------------------- per-tab state

  // The tab id and the next sequence number live in sessionStorage with the session id they belong to, so
  // a reload or a new page in the same tab continues the sequence; so do drops not yet reported, which a
  // page that was left cannot report itself.
  let state;
  try {
    state = JSON.parse(sessionStorage.pathlight_rec);
  } catch (e) {}
  if (!(state?.sid == sid && /^[A-Za-z0-9]{16}$/.test(state.tab) && state.seq >= 0))
    state = { sid, tab: randomId(), seq: 0 };
  // Only counts the worker accepts: a bad one would get the chunk that reports it refused.
  state.dropped = Object.fromEntries(
    DROP_REASONS.filter((r) => Number.isInteger(state.dropped?.[r]) && state.dropped[r] > 0).map((r) => [
      r,
      state.dropped[r],
    ]),
  );
  // Without a place to keep the sequence, a later page of this tab would reuse its numbers and overwrite
  // this one's chunks, so a recorder that cannot save stops.
  let broken = false;
  const save = () => {
    try {
      sessionStorage.pathlight_rec = JSON.stringify(state);
    } catch (e) {
      broken = true;
    }
  };
  save();
  const count = (reason, n = 1) => {
    state.dropped[reason] = (state.dropped[reason] || 0) + n;
    save();
  };

  // --------------------------------------------------------------- URLs

  // The page URL as recorded: no fragment (it can carry tokens) unless data-hash says the site routes by it,
  // and of the query string only the utm_* parameters the worker keeps anyway.
  const pageUrl = (href) => {
    const url = new URL(href);
    if (!withHash) url.hash = "";
    for (const key of [...url.searchParams.keys()]) key.startsWith("utm_") || url.searchParams.delete(key);
    return [...url.href].slice(0, 2048).join("");
  };
  let lastHref;
  let lastUrl;
  let lastExcluded;
  // The page of the last event kept: what a chunk names as its url (never an excluded page's).
  let keptUrl;
  // Called for every event, so it parses only when the address changed.
  const here = () => {
    if (location.href != lastHref) {
      lastHref = location.href;
      lastUrl = pageUrl(lastHref);
      lastExcluded = excluded && excluded.test(location.pathname);
    }
    return lastExcluded;
  };

  // --------------------------------------------------------------- masking

  // rrweb masks text (maskTextSelector "*" with this function) and input values itself; it has no option
  // for attributes, so those are masked here in every serialized node before an event is kept.
  const unmasked = (element) => !!element?.closest?.(UNMASK);
  const maskText = (text, element) => (unmasked(element) ? text : mask(text));

  const maskAttributes = (id, tagName, attributes) => {
    let live;
    for (const name in attributes) {
      if (ALWAYS_MASKED.get(name)?.has(tagName)) attributes[name] = mask(attributes[name]);
      else if (TEXT_ATTRIBUTES.has(name)) {
        live ??= record.mirror.getNode(id) || 0;
        unmasked(live) || (attributes[name] = mask(attributes[name]));
      }
    }
  };
  const maskTree = (node) => {
    if (node.type == ELEMENT_NODE) maskAttributes(node.id, node.tagName, node.attributes);
    node.childNodes?.forEach(maskTree);
  };
  const maskEvent = (event) => {
    const data = event.data;
    if (event.type == META) data.href = pageUrl(data.href);
    else if (event.type == FULL_SNAPSHOT) maskTree(data.node);
    else if (event.type == INCREMENTAL && data.source == MUTATION) {
      data.adds?.forEach((add) => maskTree(add.node));
      for (const change of data.attributes || []) {
        const live = record.mirror.getNode(change.id);
        maskAttributes(change.id, live?.localName, change.attributes);
      }
    } else if (event.type == INCREMENTAL && data.source == INPUT) data.text = mask(data.text);
  };

  // --------------------------------------------------------------- batching

  let batch = [];
  let batchChars = 0;
  let first = 0;
  let last = 0;
  let full = false;
  let batchTimer = 0;
  // Whether this page has sent events since its last final chunk: a page that has none sends no final one,
  // and a page hidden twice says so once.
  let open = false;
  let tokens = EVENT_BURST;
  let refilled = Date.now();
  let resync = false;

  // Sealed chunks in sequence order, each waiting for its bytes or for the delivery of its parts.
  const outbox = [];
  const compress = typeof CompressionStream == "function";

  const seal = (fin) => {
    clearTimeout(batchTimer);
    batchTimer = 0;
    if (broken || (!batch.length && !(fin && open)) || state.seq > MAX_SEQ) return;
    const now = Date.now();
    const dropped = Object.entries(state.dropped)
      .map(([reason, n]) => reason + ":" + n)
      .join();
    const chunk = {
      seq: state.seq++,
      n: batch.length,
      first: first || now,
      last: last || now,
      full,
      fin,
      url: keptUrl,
      dropped,
      raw: new TextEncoder().encode("[" + batch.join() + "]"),
      sent: 0,
    };
    state.dropped = {};
    save();
    batch = [];
    batchChars = first = last = 0;
    full = false;
    open = !fin;
    outbox.push(chunk);
    if (compress)
      new Response(new Blob([chunk.raw]).stream().pipeThrough(new CompressionStream("gzip")))
        .arrayBuffer()
        .then(
          guard((gzipped) => chunk.bytes || setBytes(chunk, new Uint8Array(gzipped), "gzip")),
          guard(() => chunk.bytes || setBytes(chunk, chunk.raw, "identity")),
        )
        .then(pump);
    else setBytes(chunk, chunk.raw, "identity");
    pump();
  };

  const setBytes = (chunk, bytes, enc) => {
    chunk.bytes = bytes;
    chunk.enc = enc;
    chunk.parts = Math.ceil(bytes.length / PART_BYTES);
  };

  const onEvent = guard((event) => {
    if (here()) {
      // A navigation the history hooks did not see (or an event queued before it): nothing of an excluded
      // path is kept.
      setTimeout(navigated);
      return;
    }
    // Checkouts (Meta, then the full snapshot) open a chunk of their own, so playback can start there.
    if (event.type == META) seal(false);
    if (event.type != META && event.type != FULL_SNAPSHOT) {
      const now = Date.now();
      tokens = Math.min(EVENT_BURST, tokens + ((now - refilled) * EVENTS_PER_SECOND) / 1e3);
      refilled = now;
      if (tokens < 1) {
        resync = true;
        return count("throttled");
      }
      tokens--;
      if (resync && tokens > EVENT_BURST / 2) {
        // The replay lost events it needs to rebuild the page: once the storm is over (the allowance has
        // half refilled), a full snapshot gives it a fresh start.
        resync = false;
        setTimeout(checkout);
      }
    }
    maskEvent(event);
    const json = JSON.stringify(event);
    if (json.length > MAX_EVENT_CHARS) return count("too_large");
    batch.push(json);
    batchChars += json.length;
    keptUrl = lastUrl;
    open = true;
    first ||= event.timestamp;
    last = event.timestamp;
    full ||= event.type == FULL_SNAPSHOT;
    batchChars >= BATCH_CHARS
      ? seal(false)
      : (batchTimer ||= setTimeout(
          guard(() => seal(false)),
          BATCH_MS,
        ));
  });

  // --------------------------------------------------------------- delivery

  let flying = null;
  let retryTimer = 0;
  let keepaliveBytes = 0;

  const request = (chunk, part) => {
    const body = chunk.bytes.subarray(part * PART_BYTES, (part + 1) * PART_BYTES);
    const query = {
      site,
      sid,
      tab: state.tab,
      seq: chunk.seq,
      part,
      parts: chunk.parts,
      first: chunk.first,
      last: chunk.last,
      n: chunk.n,
      raw: chunk.raw.length,
      size: body.length,
      enc: chunk.enc,
      full: +chunk.full,
      fin: +chunk.fin,
      url: chunk.url,
    };
    if (chunk.dropped) query.dropped = chunk.dropped;
    // text/plain is a CORS-safelisted type: no preflight, and sendBeacon can send it.
    return [endpoint + "?" + new URLSearchParams(query), new Blob([body], { type: "text/plain" }), body.length];
  };

  // One request at a time, in sequence and part order, so the worker receives a tab's chunks in order.
  const pump = guard(() => {
    const chunk = outbox[0];
    if (flying || retryTimer || !chunk?.bytes) return;
    send(chunk, chunk.sent, 0);
  });

  const send = (chunk, part, tries) => {
    const [url, body, size] = request(chunk, part);
    const attempt = (flying = {});
    // The first attempt may go with keepalive while it fits the budget, so that a page being left does
    // not cancel it; retries run while the page is alive and go without.
    const keepalive = !tries && keepaliveBytes + size <= KEEPALIVE_BUDGET;
    if (keepalive) keepaliveBytes += size;
    const settle = guard((outcome) => {
      if (keepalive) keepaliveBytes -= size;
      // The page-hide flush took over this chunk (and resent it); this answer no longer matters.
      if (flying != attempt) return;
      flying = null;
      if (outcome == "retry" && tries < RETRIES) {
        retryTimer = setTimeout(
          guard(() => {
            retryTimer = 0;
            chunk.gone || send(chunk, part, tries + 1);
          }),
          1e3 << tries,
        );
        return;
      }
      if (outcome != "ok") count("send_failed");
      if (++chunk.sent == chunk.parts) outbox.shift();
      pump();
    });
    fetch(url, { method: "POST", body, keepalive, credentials: "omit" }).then(
      (r) => settle(r.ok ? "ok" : r.status > 499 || r.status == 429 ? "retry" : "refused"),
      () => settle("retry"),
    );
  };

  // The page is being hidden or left: it may be frozen or gone before any timer or promise runs, so every
  // part not yet delivered goes now, synchronously: with fetch keepalive while the bodies fit the browser's
  // 64 KiB budget, else with sendBeacon. A chunk still being compressed goes uncompressed. A part in flight
  // is sent again: the worker's storage keeps one copy of (session, tab, seq, part).
  const flushAll = () => {
    seal(true);
    clearTimeout(retryTimer);
    retryTimer = 0;
    flying = null;
    for (const chunk of outbox.splice(0)) {
      chunk.gone = true;
      chunk.bytes || setBytes(chunk, chunk.raw, "identity");
      for (let part = chunk.sent; part < chunk.parts; part++) {
        const [url, body, size] = request(chunk, part);
        if (keepaliveBytes + size <= KEEPALIVE_BUDGET) {
          keepaliveBytes += size;
          fetch(url, { method: "POST", body, keepalive: true, credentials: "omit" })
            .then(
              (r) => r.ok || count("send_failed"),
              () => count("send_failed"),
            )
            .finally(() => (keepaliveBytes -= size));
        } else {
          let queued = false;
          try {
            queued = navigator.sendBeacon(url, body);
          } catch (e) {}
          queued || count("send_failed");
        }
      }
    }
  };

  // --------------------------------------------------------------- recording

  let stop = null;
  let hidden = false;

  const start = () => {
    stop = record({
      emit: onEvent,
      checkoutEveryNms: CHECKOUT_MS,
      maskAllInputs: true,
      maskTextSelector: "*",
      maskTextFn: maskText,
      blockSelector: BLOCKED,
      recordCanvas: false,
      recordCrossOriginIframes: false,
      collectFonts: false,
      inlineImages: false,
      // Scripts, comments and head metadata play no part in a replay and can hold anything.
      slimDOMOptions: "all",
      // Masked values all look alike; the last one per field is enough.
      sampling: { input: "last" },
      // rrweb's own observers must never throw into the page either.
      errorHandler: () => true,
    });
  };
  const checkout = guard(() => stop && record.takeFullSnapshot(true));

  // Recording follows the path: it stops on entering an excluded path (before the new page renders, when
  // the router announces it first) and starts again, with a full snapshot, on leaving it.
  // Starting again waits for the current task to end, so that a router that announces the URL before it
  // renders has replaced the excluded page by then.
  let restart = 0;
  const navigated = guard(() => {
    if (here()) {
      if (stop) {
        stop();
        stop = null;
        seal(false);
      }
    } else if (!stop)
      restart ||= setTimeout(
        guard(() => {
          restart = 0;
          here() || stop || start();
        }),
      );
  });

  for (const method of ["pushState", "replaceState"]) {
    const original = history[method];
    history[method] = function () {
      const result = original.apply(this, arguments);
      navigated();
      return result;
    };
  }
  const listen = (type, f) => addEventListener(type, guard(f), true);
  listen("popstate", navigated);
  listen("hashchange", navigated);
  const hide = () => {
    hidden = true;
    flushAll();
  };
  // Back to visible (or back from the back/forward cache): a fresh full snapshot, since the page may have
  // changed while nothing was watching it closely, and chunks after a final one start cleanly.
  const show = () => {
    if (!hidden) return;
    hidden = false;
    stop ? checkout() : navigated();
  };
  listen("visibilitychange", () => (document.hidden ? hide() : show()));
  listen("pagehide", hide);
  listen("pageshow", (e) => e.persisted && show());

  here() || start();
})();
