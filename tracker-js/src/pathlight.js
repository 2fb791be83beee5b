// Pathlight browser snippet. Served by the edge worker at GET /js; see ../README.md for options and data.
// Every byte here is paid for on every page view of every site using it, so the code favours constructs
// that minify and gzip well. The wire format is event-schema/contracts/track-request.schema.json, generated
// from the worker's validation; the browser tests check every request against it.
((w, d) => {
  // Nothing may ever throw into the host page: every entry point runs through this.
  var guard = (f) => (a, b) => {
    try {
      f(a, b);
    } catch (e) {}
  };

  guard(() => {
    var loc = location;
    var nav = navigator;
    var script = d.currentScript || d.querySelector("script[data-site]");
    var data = script.dataset;
    var site = data.site;
    // A URL object: sendBeacon and fetch take it as well as a string.
    var api = data.api || new URL("/track", script.src);
    var withHash = "hash" in data;
    var outbound = "outboundLinks" in data;
    var downloads = data.fileDownloads;
    var exclude = data.exclude;
    var pending = w.pathlight?.q;
    var queue = [];
    var timer = 0;
    var last = "";
    // Since when the page has been visible without a report (0: not visible).
    var since = 0;
    var sid;
    // Whether this session is recorded (decided below).
    var rec;
    var off =
      !site ||
      ("respectDnt" in data && (nav.doNotTrack == 1 || nav.globalPrivacyControl));

    // The server counts its limits in characters (code points). Slicing UTF-16 units could split a
    // surrogate pair, and the server's JSON parser rejects a lone surrogate, failing the whole batch.
    var cut = (s, n) => [...s].slice(0, n).join("");

    // Without the unicode flag, an escaped non-word character always stands for itself.
    var pattern = (list, prefix) =>
      RegExp(
        prefix +
          "(" +
          list
            .split(/ *, */)
            .map((p) => p.replace(/\W/g, "\\$&").replace(/\\\*/g, ".*"))
            .join("|") +
          ")$",
        "i",
      );
    var excluded = exclude && pattern(exclude, "^");
    var download =
      downloads != null &&
      pattern(
        downloads ||
          "pdf,xlsx,docx,txt,rtf,csv,exe,key,pps,ppt,pptx,7z,pkg,rar,gz,zip,avi,mov,mp4,mpeg,wmv,midi,mp3,wav,wma,dmg",
        "\\.",
      );

    // Base64 of a multiple of 3 random bytes is uniform over 64 characters; dropping + and / leaves it
    // uniform over the 62 of [A-Za-z0-9]. 32 characters leave fewer than 16 with a chance near 1e-17.
    var random = () =>
      btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))
        .replace(/\W/g, "")
        .slice(0, 16);

    // A string body goes as text/plain;charset=UTF-8 with both transports: a CORS "simple" request, so
    // no preflight.
    var send = (body, unloading, tries) => {
      var retry = () =>
        // A page being hidden or unloaded may be frozen or gone before a backoff timer fires; its
        // keepalive request was the one chance, and a late retry from a restored page would be stale.
        unloading || tries > 1 || setTimeout(() => send(body, 0, tries + 1), 1e3 << tries);
      try {
        if (!tries && nav.sendBeacon(api, body)) return;
      } catch (e) {}
      fetch(api, {
        method: "POST",
        body,
        // Keepalive bodies are capped at 64 KiB; a retry runs while the page is alive, so it goes without.
        keepalive: !tries,
        credentials: "omit",
      }).then((r) => (r.status > 499 || r.status == 429) && retry(), retry);
    };

    var flush = guard((unloading) => {
      timer = 0;
      while (queue.length)
        send(JSON.stringify({ site, sid, events: queue.splice(0, 25) }), unloading, 0);
    });

    var push = (event) => {
      if (excluded && excluded.test(new URL(event.url).pathname)) return;
      // The session recorder is a module of its own (GET /record.js), loaded with the first event of a path
      // that is not excluded; it reads the script tag and sessionStorage itself. A module is evaluated once
      // however often it is imported. A failed load rejects, and guard(error) merely returns a function, so
      // the rejection is handled and nothing reaches the page.
      rec && import(new URL("/record.js", script.src)).catch(guard);
      // The worker derives the stored event id from (site, sid, id), so a retried request, which resends
      // the same body, is stored once.
      event.id = random();
      // Ten events are reason enough not to wait; the timer bounds how stale a lone event gets.
      queue.push(event) < 10 ? (timer ||= setTimeout(flush, 1e3)) : flush();
    };

    // Reports the visible time since the last report (if any) and starts or stops the clock. Reporting at
    // every transition means no running total has to be kept. performance.now() rather than Date.now():
    // it does not jump when the system clock is set.
    var report = (running) => {
      // Offset by one so that a clock started at time 0 still counts as started.
      var now = (performance.now() + 1) | 0;
      var ms = since && now - since;
      since = running && now;
      // ms <= 0 only once the 32-bit clock wraps (after 24 days open). The server refuses a day or more
      // in one report, which only a page left visible that long could reach.
      ms > 0 && ms < 864e5 && last && push({ kind: "engagement", url: last, engaged_ms: ms });
    };

    // pagehide stops the clock, so the visibilitychange that may follow reports nothing twice; a page
    // restored from the back/forward cache restarts it when it becomes visible again.
    var hide = () => {
      report();
      flush(1);
    };

    var page = guard(() => {
      // Fragments can carry tokens (OAuth, magic links), so they stay on the page unless the site opts in.
      var url = cut(withHash ? loc.href : loc.href.split("#")[0], 2048);
      // Routers often replaceState the URL they just pushed, and back/forward can land on the same URL.
      if (url == last) return;
      report(since);
      push({
        kind: "pageview",
        url,
        referrer: cut(last || d.referrer, 2048),
        title: cut(d.title, 300),
        screen_width: screen.width,
        language: nav.language,
      });
      last = url;
    });

    var custom = (name, props) => {
      if (!name) return;
      var clean = {};
      var n = 0;
      for (var key in props) {
        var value = props[key];
        var string = typeof value == "string";
        // JSON would turn NaN and Infinity into null, which the server rejects, as it does empty keys.
        if (key && n < 16 && (string || Number.isFinite(value) || value === !!value))
          (clean[cut(key, 64)] = string ? cut(value, 256) : value), n++;
      }
      push({ kind: "event", url: last, name: cut("" + name, 64), props: clean });
    };

    // Capturing at the window sees document events too (visibilitychange bubbles), and sees clicks even
    // when the page stops their propagation.
    var listen = (type, f) => w.addEventListener(type, guard(f), true);

    var link = (e) => {
      var a = e.target.closest("a[href]");
      // Among auxclicks only the middle button opens a link; the right one opens a menu.
      if (a && e.button < 2) {
        var href = a.href;
        var url = new URL(href);
        // A link that is both counts once, as the more specific download.
        download && download.test(url.pathname)
          ? custom("file_download", { url: href })
          : outbound && url.host && url.host != loc.host && custom("outbound_click", { url: href });
        // The click is likely to unload the page next; do not leave the event waiting on a timer.
        flush();
      }
    };

    try {
      off ||= localStorage.pathlight_ignore == "true";
    } catch (e) {}

    w.pathlight = guard((name, props) => off || custom(name, props));
    if (off) return;

    try {
      sid = sessionStorage.pathlight_sid ||= random();
      // data-record="<rate>" records that share of sessions; present without a value, all of them. The
      // decision is a function of the session id (its first 8 random bits, nearly uniform over 0..247), so
      // every page of a session follows it and nothing more is stored. Where storage is blocked nothing is
      // recorded: the recorder could not keep its sequence across pages.
      rec = atob(sid).charCodeAt() / 248 < (data.record || "record" in data);
    } catch (e) {
      sid = random();
    }

    for (let method of ["pushState", "replaceState"]) {
      let original = history[method];
      // Both return undefined, so the wrapper need not return their result.
      history[method] = function () {
        page(original.apply(this, arguments));
      };
    }
    listen("popstate", page);
    withHash && listen("hashchange", page);
    listen("visibilitychange", () => (d.hidden ? hide() : report(1)));
    listen("pagehide", hide);
    listen("click", link);
    listen("auxclick", link);

    report(!d.hidden);
    page();
    pending?.map((args) => w.pathlight(...args));
  })();
})(window, document);
