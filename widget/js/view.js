//! The widget's hands in the page: puts the form's markup into a shadow root, reads and marks its controls,
// and talks to the collector. Every decision (is this value valid, what does the message say, what is sent,
// what does the answer mean) is asked of the Rust `Form` (`widget/src/form.rs`), which applies the `shared`
// rules; this file only moves values and messages between it and the DOM. The view knows its Rust form by
// its number and asks through the module's functions (`js/rules.js` over `widget/src/abi.rs`), which
// `ready` hands it.
//
// Why the DOM work is JavaScript: each DOM call made from Rust is an import with its own glue, and the
// calls a form needs cost the widget about 9 KB brotli as Rust, against about 1 KB here.
//
// The page view's analytics (see `edge/src/rules/beacon.rs`): whether the form came into view, was started
// and sent, the field a visitor left it at and the problems shown, reported with `navigator.sendBeacon` when
// the page is hidden, as the change since the last report. No cookie, no storage, no identifier.
//
// Accessibility is part of the contract: every control has a real `<label>` (`shared::markup`), invalid
// controls get `aria-invalid` and `aria-describedby` pointing at their message, focus moves to the first
// invalid control, and errors and success are announced through a polite live region.

/** Retry delays after a network error or a 5xx; the idempotency key stays the same across them. */
const BACKOFF_MS = [500, 1500, 4000];

/** The status texts, as `Form::say` numbers them. */
const SAY_SENDING = 0;
const SAY_INVALID = 1;
const SAY_UNREACHABLE = 2;
const SAY_FAILED = 3;

/**
 * Renders `markup` styled by `css` into a new shadow root on `host` at once, posts valid submissions to
 * `${endpoint}/v1/leads` and reports form `id`'s analytics (of its `variant`, when the page view shows one)
 * to `${endpoint}/v1/beacon`. With `turnstile` (`[site key, script URL]`) it shows Cloudflare Turnstile
 * itself, loading its script on the form's first focus.
 * The rules come later: until the view's `ready(functions, form)` hands it the Rust form, checks wait and a submit
 * waits (busy) for them, so the markup is on screen while the wasm module still downloads and compiles,
 * and nothing is ever sent unchecked.
 * Returns the view: `ready(functions, form)`, `lost(retry)`, and `unmount()`, which undoes all that but the
 * markup.
 */
export function mount(host, css, markup, endpoint, id, variant, turnstile) {
  const root = host.attachShadow({ mode: "open" });
  // A constructed stylesheet rather than a <style> element: CSP `style-src` does not apply to it, so the
  // form looks right on pages whose policy forbids inline styles.
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  root.adoptedStyleSheets = [sheet];
  root.innerHTML = markup;
  // Little but what the form needs to be shown and safe to submit is done before the script ends (the
  // markup above, the listeners below): the controls are listed when first needed, and the observer for
  // analytics is set up in the next task, so the browser may paint the form first (`cargo xtask bench
  // render` times the path to the form).
  // The controls in the markup's order, which is the order the Rust form numbers them in: its fields, then
  // its consent boxes (`shared::markup` writes them so, and a test in `shared` holds it to that). The
  // honeypot is not one of them, nor the slot Turnstile is shown in.
  // `help`: the id of the control's help text, which describes it whether or not an error is shown.
  let listed;
  const controls = () =>
    (listed ||= Array.from(root.querySelectorAll("[name]:not(#lg-hp,slot)"), (el) => ({ el, error: root.getElementById(el.id + "-e"), help: el.getAttribute("aria-describedby") })));
  const formEl = root.querySelector("form");
  const button = root.querySelector("button");
  const status = root.querySelector("[role=status]");
  const shownAt = performance.now();
  // The Rust form, once its rules have arrived (see `ready`).
  let form = 0;
  // The module's functions, which take the form's number (see `ready`).
  let rules;
  // A submit pressed before the rules (or Turnstile's answer) arrived, to be made when they do.
  let waiting = false;
  // Whether a submit need not wait for Turnstile: it has answered (or failed: the collector then says so),
  // or the widget does not show it.
  let human = !turnstile;
  // Set when the rules could not be loaded: asks for them again (see `lost`).
  let again = null;
  let sending = false;
  let key = null;
  // Set between pointerdown and pointerup inside the form. A blur caused by a click would show its error
  // while the click is in progress, shift the layout under the pointer and make the click miss; such
  // checks wait in `deferred` until the pointer is released.
  let pressing = false;
  let deferred = [];
  // The page view as analytics sees it now, and as it was last reported (`left`: the field it would be
  // abandoned at), with the problems shown since.
  const now = { view: 0, start: 0, submit: 0 };
  // The landing page's campaign tags (`utm_*`, each name's first value), for submissions and reports. Read
  // now, as the page arrived: a page's script may tidy its address later (and many do, to drop them).
  const utm = {};
  if (location.search)
    for (const [name, v] of new URLSearchParams(location.search)) if (name.startsWith("utm_") && v) utm[name.slice(4)] ||= v;
  let told = { ...now, left: "" };
  let last = "";
  const errors = [];

  const value = (c) => (c.el.type === "checkbox" ? String(c.el.checked) : c.el.value);

  // Shows `message` under control `c`; a problem newly shown is counted under its field by its `code`
  // (`Form::shown`; none for the collector's messages, which the report leaves out).
  const show = (c, message, code) => {
    if (code && message !== c.error.textContent) errors.push([c.el.name, code]);
    c.error.textContent = message || "";
    const described = message ? [c.error.id, c.help].filter(Boolean).join(" ") : c.help;
    if (message) c.el.setAttribute("aria-invalid", "true");
    else c.el.removeAttribute("aria-invalid");
    if (described) c.el.setAttribute("aria-describedby", described);
    else c.el.removeAttribute("aria-describedby");
  };

  const announce = (message, error) => {
    status.textContent = message;
    status.className = error ? "s err" : "s";
  };

  // Checks control `i` and shows what is wrong with it; returns the message (none when it is fine).
  const check = (i) => {
    const c = controls()[i];
    const message = rules.check(form, i, value(c));
    show(c, message, rules.shown(form));
    return message;
  };

  // Shows on each control `c` (number `i`) what `shown(c, i)` shows, focuses the first invalid control and
  // announces `summary`.
  const showAll = (shown, summary) => {
    let first = null;
    controls().forEach((c, i) => {
      if (shown(c, i) && !first) first = c.el;
    });
    announce(summary, true);
    first?.focus();
  };

  // The end of an exchange with the collector: the form can be sent again.
  const idle = () => {
    sending = false;
    button.removeAttribute("disabled");
    button.removeAttribute("aria-busy");
  };

  const accepted = (answer) => {
    idle();
    now.submit = 1;
    formEl.hidden = true;
    status.className = "s";
    status.innerHTML = rules.thanks(form, String(answer?.status ?? ""), answer?.download_url ?? undefined);
  };

  // The collector found problems the browser did not (or the form changed): a corrected submission is a
  // new one, with a new key. Its messages are already in the form's language.
  const rejected = (error) => {
    idle();
    key = null;
    const fields = error.fields || {};
    const messages = controls().map((c) => fields[c.el.name]?.[0]?.message);
    if (messages.some(Boolean)) showAll((c, i) => (show(c, messages[i]), messages[i]), error.message);
    else announce(error.message, true);
  };

  const failed = (what) => {
    idle();
    announce(rules.say(form, what), true);
  };

  const post = (body, n) => {
    const retry = (what) => {
      if (n < BACKOFF_MS.length) setTimeout(() => post(body, n + 1), BACKOFF_MS[n]);
      else failed(what);
    };
    fetch(`${endpoint}/v1/leads`, {
      method: "POST",
      body,
      headers: new Headers({ "Content-Type": "application/json", "Idempotency-Key": key }),
    }).then(
      async (r) => {
        const answer = await r.json().catch(() => null);
        if (r.ok) accepted(answer);
        else if (r.status >= 500) retry(SAY_FAILED);
        else if (typeof answer?.error?.message === "string") rejected(answer.error);
        else failed(SAY_FAILED);
      },
      () => retry(SAY_UNREACHABLE)
    );
  };

  // Busy: the button cannot be pressed again while a submission is checked or on its way.
  const busy = () => {
    button.setAttribute("disabled", "");
    button.setAttribute("aria-busy", "true");
  };

  // Turnstile shown by the widget: loaded on the form's first focus rather than with the page (its script
  // alone is 82 KB and pulls about 1.2 MB), once per page, and rendered into an element of the host that the
  // markup slots in before the button. Its token lands in a hidden input there, read at submit.
  const challenge = () => {
    if (human || challenge.on) return;
    challenge.on = 1;
    const box = document.createElement("div");
    box.slot = "turnstile";
    host.append(box);
    const done = () => {
      human = true;
      if (waiting && form) resume();
    };
    // Shared by the page's Leadgate scripts under the symbol the entry keeps the module under.
    const shared = window[Symbol.for("leadgate")];
    (shared.turnstile ||= window.turnstile
      ? Promise.resolve(window.turnstile)
      : new Promise((resolve, reject) => {
          const s = document.createElement("script");
          s.src = turnstile[1] + "?render=explicit";
          s.onload = () => resolve(window.turnstile);
          s.onerror = reject;
          document.head.append(s);
        })
    ).then((api) => api.render(box, { sitekey: turnstile[0], callback: done, "error-callback": done }), done);
  };

  // A submit that waited: made now.
  const resume = () => {
    waiting = false;
    idle();
    submit();
  };

  const submit = () => {
    if (sending) return;
    challenge();
    if (!form || !human) {
      waiting = true;
      busy();
      again?.();
      again = null;
      return;
    }
    controls().forEach((c, i) => rules.set(form, i, value(c)));
    // Every `utm_*` parameter is offered; the form keeps the tags it knows.
    for (const k in utm) rules.tag(form, k, utm[k]);
    // Turnstile leaves its token in a hidden input: the widget's own in the host, else the page's.
    const token = (host.querySelector("[name=cf-turnstile-response]") || document.querySelector("[name=cf-turnstile-response]"))?.value || undefined;
    const hp = root.getElementById("lg-hp").value;
    const body = rules.submit(form, location.href, document.referrer || undefined, hp, performance.now() - shownAt, token);
    if (body === undefined) {
      key = null;
      showAll((c, i) => check(i), rules.say(form, SAY_INVALID));
      return;
    }
    controls().forEach((c) => show(c));
    key ||= Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    sending = true;
    busy();
    announce(rules.say(form, SAY_SENDING), false);
    post(body, 0);
  };

  // Reports what changed since the last report, if anything did.
  const report = () => {
    const left = now.start && !now.submit ? last : "";
    const body = { form: id, variant, source: utm.source, campaign: utm.campaign, errors };
    let changed = errors.length > 0;
    for (const k in now) {
      if (now[k] !== told[k]) {
        body[k] = now[k] - told[k];
        changed = true;
      }
    }
    if (left !== told.left) {
      body.abandon = [told.left, left];
      changed = true;
    }
    if (!changed) return;
    if (navigator.sendBeacon(`${endpoint}/v1/beacon`, JSON.stringify(body))) {
      told = { ...now, left };
      errors.length = 0;
    }
  };
  // The form is seen once at least half of it (or half the window, for a form taller than that) is in view.
  // (Watched from the next task on: the observer reports what is in view when it starts.)
  setTimeout(() => {
    const seen = new IntersectionObserver(
      (entries) => {
        for (const e of entries)
          if (e.intersectionRatio >= 0.5 || e.intersectionRect.height >= innerHeight / 2) {
            now.view = 1;
            seen.disconnect();
          }
      },
      // Crossing a quarter shows half the window of a form up to four windows tall.
      { threshold: [0.25, 0.5] }
    );
    seen.observe(host);
  });

  // One listener for every event the form cares about, in the capture phase so the form sees its
  // controls' `blur` (which does not bubble). Pointer releases are watched on the window, so a press that
  // ends outside the form still ends.
  const handle = (e) => {
    const kind = e.type;
    if (kind === "submit") {
      e.preventDefault();
      submit();
    } else if (kind === "pointerdown") {
      pressing = true;
    } else if (kind === "focusin") {
      challenge();
    } else if (kind === "visibilitychange") {
      // Hidden is the last moment a page is sure to see: it comes before leaving, closing and switching
      // away (where `pagehide` and `unload` may never come, on phones).
      if (document.hidden) report();
    } else if (kind === "input") {
      // Typing (or ticking, or choosing) starts the form; the last control changed is where it was left.
      // The honeypot is no field: only bots type there.
      if (e.target.name !== "_hp") {
        last = e.target.name;
        now.start = 1;
      }
    } else if (kind === "pointerup" || kind === "pointercancel") {
      pressing = false;
      if (form) deferred.splice(0).forEach(check);
    } else {
      // Text controls are checked when they lose focus, tick boxes (consent or field) when they change.
      const i = controls().findIndex((c) => c.el === e.target && (c.el.type === "checkbox") === (kind === "change"));
      if (i >= 0) pressing || !form ? deferred.push(i) : check(i);
    }
  };
  const listening = [
    [formEl, ["blur", "change", "pointerdown", "submit", "input", "focusin"]],
    [window, ["pointerup", "pointercancel"]],
    [document, ["visibilitychange"]],
  ];
  const each = (method) => {
    for (const [target, kinds] of listening) for (const k of kinds) target[method](k, handle, true);
  };
  each("addEventListener");
  return {
    /**
     * Hands the view its Rust form, its number `opened` and the module's functions `functions` (`check`,
     * `shown`, `set`, `tag`, `submit`, `say`, `thanks`, `close`): the checks that waited for it run, then a
     * submit that did.
     */
    ready(functions, opened) {
      rules = functions;
      form = opened;
      host.setAttribute("data-leadgate-ready", "");
      if (!pressing) deferred.splice(0).forEach(check);
      if (waiting && human) resume();
    },
    /**
     * The rules could not be loaded: a waiting submit is released with the live region's `data-lost` text
     * (written by the collector in the form's language), and the next submit calls `retry` and waits again.
     */
    lost(retry) {
      again = retry;
      if (waiting) {
        waiting = false;
        idle();
        announce(status.dataset.lost, true);
      }
    },
    /** Removes the form's event listeners and closes its Rust form. */
    unmount() {
      each("removeEventListener");
      if (form) rules.close(form);
    },
  };
}
