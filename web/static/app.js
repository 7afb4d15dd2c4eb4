// Switchboard console: live updates, the instant "Assigned Agent" choice,
// snoozing with the refusal shown in place, and times in the agent's zone.
// Plain JavaScript, no build step.
"use strict";

(function () {
  const body = document.body;

  // Reread the page and swap in its main part, keeping the header (and an
  // open profile menu) as they are.
  let refreshTimer = null;
  let refreshing = false;
  let lastRefresh = 0; // when the last reread began
  async function refresh() {
    if (refreshing) { scheduleRefresh(); return; }
    if (held()) return;
    refreshing = true;
    lastRefresh = Date.now();
    try {
      const resp = await fetch(location.href, { headers: { "X-Requested-With": "refresh" }, credentials: "same-origin" });
      if (resp.redirected && new URL(resp.url).pathname === "/app/login") { location.assign(resp.url); return; }
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const fresh = doc.getElementById("main");
      const main = document.getElementById("main");
      if (held()) return; // browsing began while the page was fetched
      if (fresh && main) {
        // Keep keyboard focus where it was.
        const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : "";
        // A refused assignment's or snooze's message stays until the next
        // try: a change by someone else must not wipe it before it is read.
        const refused = ["assign-error", "snooze-error"].map((id) => main.querySelector("#" + id + ":not([hidden])")).filter(Boolean);
        // So does what was typed in a draft field (the snooze time) and not sent.
        const drafts = [...main.querySelectorAll("[data-draft]")].filter((e) => e.id && e.value);
        main.replaceWith(fresh);
        for (const old of refused) {
          const error = fresh.querySelector("#" + old.id);
          if (error) { error.textContent = old.textContent; error.hidden = false; }
        }
        for (const old of drafts) {
          const field = fresh.querySelector("#" + old.id);
          if (field && !field.value) field.value = old.value;
        }
        wire(fresh);
        markBusy();
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
      }
      const dot = doc.getElementById("my-availability");
      const mine = document.getElementById("my-availability");
      if (dot && mine) { mine.className = dot.className; mine.dataset.availability = dot.dataset.availability; }
      body.dataset.refreshed = String(Number(body.dataset.refreshed || "0") + 1);
    } finally {
      refreshing = false;
    }
  }
  // Someone moving through the Assigned Agent list with the keyboard keeps
  // it until they choose or leave it, and someone typing in a draft field
  // (the snooze time: a half-typed date has no value to carry over) until
  // they leave it; the page is reread after.
  function held() {
    const active = document.activeElement;
    if (document.querySelector("#main [data-browsing]") || (active && active.matches("#main [data-draft]"))) {
      body.dataset.refreshHeld = "true";
      scheduleRefresh();
      return true;
    }
    delete body.dataset.refreshHeld;
    return false;
  }
  // A change schedules a reread 100 ms later, and those that follow before
  // it runs join it. (Each change used to put it off by another 100 ms, so
  // changes coming more often than that, as in a busy account, held every
  // reread off for as long as they came.) Rereads begin at least 500 ms
  // apart: in a busy account each would otherwise follow the last as soon
  // as it ended, every console reading its whole page several times a
  // second (BENCHMARKS.md).
  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    const wait = Math.max(100, lastRefresh + 500 - Date.now());
    refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, wait);
  }

  // Live updates by Server-Sent Events; the browser reconnects by itself,
  // and a reconnect rereads the page in case something was missed.
  if (body.dataset.events) {
    const source = new EventSource(body.dataset.events);
    let opened = false;
    source.onopen = function () {
      if (opened) scheduleRefresh();
      opened = true;
      body.dataset.live = "open";
    };
    source.onerror = function () { body.dataset.live = "reconnecting"; };
    source.addEventListener("change", scheduleRefresh);
  }

  // Only the answer to the latest choice shows (pages reread in between
  // included): an earlier one answered late says nothing.
  let latestAssign = 0;
  // The form says it is busy while an assignment is on its way; so does
  // the Snooze control while a snooze is.
  let inFlight = 0;
  let snoozesInFlight = 0;
  function markBusy() {
    const form = document.getElementById("assign-form");
    if (form) form.setAttribute("aria-busy", String(inFlight > 0));
    const snooze = document.getElementById("snooze");
    if (snooze) snooze.setAttribute("aria-busy", String(snoozesInFlight > 0));
  }

  // postForm posts body to url as the console's script, to which the server
  // answers 204 or a JSON refusal, and returns the refusal's message, or ""
  // when it was done. failed begins the message when there is none.
  async function postForm(url, body, failed) {
    let message = failed + ".";
    try {
      const resp = await fetch(url, {
        method: "POST",
        body: body,
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      if (resp.ok) return "";
      try { message = (await resp.json()).error || message; } catch (e) { /* not JSON */ }
    } catch (e) {
      message = failed + ": the server could not be reached.";
    }
    return message;
  }

  function wire(root) {
    localize(root);
    wireAssign(root);
    wireSnooze(root);
  }

  // The server writes times in its own time zone, as it must without the
  // script. The script shows them in the agent's (the browser's), and puts
  // that zone in the Snooze control's forms, so that "tomorrow, 09:00" and
  // a typed date and time are the agent's too. A browser that cannot name
  // its zone leaves the server's.
  const zone = (function () {
    try {
      const name = Intl.DateTimeFormat().resolvedOptions().timeZone;
      return name && name !== "Etc/Unknown" ? name : "";
    } catch (e) {
      return "";
    }
  })();
  // parts returns a function that splits a date as options say, in the
  // agent's zone; the formatter is made once (a page may hold many times,
  // and is reread often).
  function parts(options) {
    let format = null;
    return function (date) {
      format = format || new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: zone, hourCycle: "h23" }, options));
      const out = {};
      for (const p of format.formatToParts(date)) out[p.type] = p.value;
      return out;
    };
  }
  const clockParts = parts({ day: "numeric", month: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const whenParts = parts({ weekday: "short", day: "numeric", month: "numeric", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  // The forms of the server's template functions of the same names, with
  // its months' names (the browser's may differ: "Sept").
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const timeFormats = {
    clock(date) { // 2 Jan 15:04:05
      const p = clockParts(date);
      return `${Number(p.day)} ${months[p.month - 1]} ${p.hour}:${p.minute}:${p.second}`;
    },
    when(date) { // Mon 2 Jan 2006, 15:04 MST
      const p = whenParts(date);
      return `${p.weekday} ${Number(p.day)} ${months[p.month - 1]} ${p.year}, ${p.hour}:${p.minute} ${p.timeZoneName}`;
    },
  };
  function localize(root) {
    if (!zone) return;
    for (const time of root.querySelectorAll("time[data-local]")) {
      const format = timeFormats[time.dataset.local];
      const date = new Date(time.getAttribute("datetime"));
      if (format && !isNaN(date)) time.textContent = format(date);
    }
    for (const input of root.querySelectorAll("input[data-zone]")) input.value = zone;
    for (const name of root.querySelectorAll("[data-zone-name]")) name.textContent = "(" + zone + ")";
  }

  // Choosing an assignee assigns at once; an error shows beside the select.
  // With the keyboard, arrow keys only move through the list (a closed
  // select changes its value on each one): Enter or leaving the field
  // assigns.
  function wireAssign(root) {
    const form = root.querySelector("#assign-form");
    if (!form) return;
    const select = form.querySelector("select");
    // The page may be reread while an assignment is on its way: its answer
    // goes to the error line on the page then, not to the one replaced.
    const errorLine = () => document.getElementById("assign-error") || form.querySelector("#assign-error");
    let browsing = false;
    let assigned = select.value;
    function browse(on) {
      browsing = on;
      if (on) select.dataset.browsing = "true"; else delete select.dataset.browsing;
    }
    select.addEventListener("keydown", function (e) {
      if (e.altKey) {
        return; // Alt+Down opens the list: a choice there is a change
      } else if (e.key.startsWith("Arrow") || e.key === "Home" || e.key === "End" || e.key === "PageUp" || e.key === "PageDown") {
        browse(true);
      } else if (e.key === "Escape" && browsing) {
        browse(false); // back to the assignee, nothing sent
        select.value = assigned;
      } else if (e.key === "Enter") {
        e.preventDefault();
        browse(false);
        if (select.value !== assigned) assign();
      }
    });
    select.addEventListener("blur", function () {
      const chosen = browsing && select.value !== assigned;
      browse(false);
      if (chosen) assign();
    });
    select.addEventListener("change", function () {
      if (!browsing) assign();
    });
    async function assign() {
      const n = ++latestAssign;
      assigned = select.value;
      errorLine().hidden = true;
      inFlight++;
      markBusy();
      try {
        const message = await send();
        if (message && n === latestAssign) {
          const error = errorLine();
          error.textContent = message;
          error.hidden = false;
          scheduleRefresh(); // the list shows the assignee again
        }
      } finally {
        inFlight--;
        markBusy();
      }
    }
    // send posts the form and returns the refusal's message, or "".
    async function send() {
      const message = await postForm(form.action, new URLSearchParams(new FormData(form)), "The assignment failed");
      if (!message) scheduleRefresh();
      return message;
    }
  }

  // Only the answer to the latest snooze shows, as for assignments.
  let latestSnooze = 0;

  // The Snooze control's forms are sent by fetch, so that a refusal (a time
  // that has passed) shows beside them and what was typed stays; without
  // the script they post as they are, and a refusal is the error page.
  function wireSnooze(root) {
    for (const form of root.querySelectorAll("form[data-snooze-form]")) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        const body = new URLSearchParams(new FormData(form));
        // The button pressed says which choice; FormData(form) leaves it out.
        if (e.submitter && e.submitter.name) body.set(e.submitter.name, e.submitter.value);
        snooze(form.action, body);
      });
    }
  }
  async function snooze(url, body) {
    const n = ++latestSnooze;
    // The page may be reread meanwhile: look up its parts when needed.
    const errorLine = () => document.getElementById("snooze-error");
    if (errorLine()) errorLine().hidden = true;
    snoozesInFlight++;
    markBusy();
    try {
      const message = await postForm(url, body, "The snooze failed");
      if (n !== latestSnooze) return;
      if (message) {
        const error = errorLine();
        if (error) { error.textContent = message; error.hidden = false; }
        return;
      }
      // Snoozed: what was typed is used up, and the page is reread, with
      // focus out of the draft field that would hold the reread off, to
      // show when the conversation wakes.
      for (const draft of document.querySelectorAll("#main [data-draft]")) {
        draft.value = "";
        if (draft === document.activeElement) draft.blur();
      }
      scheduleRefresh();
    } finally {
      snoozesInFlight--;
      markBusy();
    }
  }
  wire(document);
})();
