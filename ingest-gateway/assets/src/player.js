// The replay player page's only script (GET /replay/assets/player.js): fetches the session's events from
// the replay API and mounts rrweb-player on them. Bundled with esbuild into dist/player.js (node
// ingest-gateway/assets/build.mjs), which the gateway embeds; no CDN is ever involved.
//
// The page passes what it knows in data attributes, so no inline script is needed and the
// Content-Security-Policy can keep `script-src 'self'`. The replay itself runs in rrweb's iframe, sandboxed
// with `allow-same-origin` only: the recorded page's scripts never run. Do not pass UNSAFE_replayCanvas,
// which would add `allow-scripts`.
import rrwebPlayer from "rrweb-player";
import "rrweb-player/dist/style.css";

const root = document.getElementById("player");
const status = document.getElementById("player-status");

const fail = (message) => {
  root.dataset.state = "error";
  status.textContent = message;
};

const load = async () => {
  const response = await fetch(root.dataset.events, { headers: { Accept: "application/json" } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.message || `the events could not be loaded (HTTP ${response.status})`);
  }
  const events = await response.json();
  if (events.length < 2) {
    throw new Error("this recording holds too few events to play");
  }
  const player = new rrwebPlayer({
    target: root,
    props: {
      events,
      width: Math.max(320, Math.min(root.clientWidth || 1024, 1280)),
      height: 600,
      autoPlay: false,
      // Gaps of inactivity (an idle tab) are skipped, as in every replay tool.
      skipInactive: true,
    },
  });
  // For scripting from the console and for the browser tests: the player's own API.
  window.pathlightPlayer = player;
  const skipped = Number(response.headers.get("pathlight-incomplete-sequences") || 0) +
    Number(response.headers.get("pathlight-unreadable-chunks") || 0);
  status.textContent = `${events.length} events` +
    (skipped ? `; ${skipped} chunk(s) missing or unreadable, playback resumes at the next full snapshot` : "");
  root.dataset.state = "ready";
};

load().catch((error) => fail(error.message));
