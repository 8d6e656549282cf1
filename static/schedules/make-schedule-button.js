/* <make-schedule-button>: the "Make this a schedule" button a chat app puts under an answer.
 *
 *   <script src="https://schedules.example.com/static/schedules/make-schedule-button.js" defer></script>
 *   <make-schedule-button agent="sales-analyst" session-id="sess-42" message-id="msg-7"
 *                         output-type="pdf" prompt-from="#question-7"></make-schedule-button>
 *
 * Attributes: agent, session-id, message-id, output-type, and the prompt either as `prompt`
 * or as `prompt-from` (a CSS selector of the element whose text was asked); optional `org`
 * (an org slug), `name`, `token` (an API token: needed when the chat app is on another
 * origin, which must be in CORS_ALLOWED_ORIGINS), `api` (the schedules app's base URL;
 * default: where this script was loaded from), `lang` (default: the page's).
 *
 * A click posts a draft to /api/v1/schedule-drafts/ (same origin: the browser session, with
 * the CSRF token from the `csrftoken` cookie) and opens the editor it answers, pre-filled.
 * Everything it draws lives in its own shadow root, so the host page's styles and elements
 * are untouched; a failure is a short message beside the button, nowhere else.
 */
(function () {
  "use strict";
  if (window.customElements.get("make-schedule-button")) return;

  var script = document.currentScript;
  var SCRIPT_ORIGIN = script && script.src ? new URL(script.src, document.baseURI).origin : window.location.origin;

  var TEXT = {
    en: {
      label: "Make this a schedule",
      busy: "Opening the schedule editor…",
      network: "The schedules service could not be reached. Try again in a moment.",
      signIn: "Sign in to the schedules app first, then try again.",
      forbidden: "You may not create schedules in this organization. Ask an admin of it.",
      refused: "This answer cannot become a schedule: ",
      server: "The schedules service had a problem. Try again in a moment.",
      noPrompt: "There is no question to schedule on this answer.",
      badUrl: "The schedules service answered with an address this button does not open.",
    },
    zh: {
      label: "设为定时任务",
      busy: "正在打开定时任务编辑器…",
      network: "无法连接定时任务服务，请稍后重试。",
      signIn: "请先登录定时任务应用，然后重试。",
      forbidden: "你没有在此组织中创建定时任务的权限，请联系组织管理员。",
      refused: "无法将此回答设为定时任务：",
      server: "定时任务服务出现问题，请稍后重试。",
      noPrompt: "此回答没有可用于定时任务的问题。",
      badUrl: "定时任务服务返回的地址不能由此按钮打开。",
    },
  };

  var STYLE =
    ":host{display:inline-block;font:inherit}" +
    "button{font:inherit;cursor:pointer;padding:.4em .9em;border-radius:6px;border:1px solid #2456a6;" +
    "background:#2f6fd6;color:#fff}" +
    "button:hover{background:#2456a6}button:focus-visible{outline:3px solid #f2b400;outline-offset:2px}" +
    "button[disabled]{opacity:.7;cursor:progress}" +
    "p{margin:.4em 0 0;font-size:.9em;color:#a1260d;max-width:40em}p:empty{display:none}";

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  // The API's error shape: {code, detail, errors: {field: [message]}}; a field's own message
  // ("agent 'echo' is disabled") reads better than the summary that prefixes the field name.
  function firstReason(data) {
    var errors = data.errors || {};
    for (var field in errors) {
      if (Array.isArray(errors[field]) && errors[field].length) return String(errors[field][0]);
    }
    return String(data.detail);
  }

  // Where a click may lead: an http(s) URL on the API's own origin, nothing else. The answer
  // comes from whatever `api` names; a `javascript:` URL (or any other scheme) given to
  // location.assign would run in the chat page's origin, and another origin is not the editor.
  function followable(url, api) {
    var base = new URL(api + "/", window.location.href);
    var target;
    try { target = new URL(url, base); } catch (err) { return null; }
    if (target.protocol !== "http:" && target.protocol !== "https:") return null;
    return target.origin === base.origin ? target.href : null;
  }

  class MakeScheduleButton extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      var root = this.attachShadow({ mode: "open" });
      // A constructed stylesheet, not a <style> element: a page with a strict
      // Content-Security-Policy (style-src without 'unsafe-inline') refuses the latter.
      var style = null;
      if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet.prototype.replaceSync === "function") {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(STYLE);
        root.adoptedStyleSheets = [sheet];
      } else {
        style = document.createElement("style");
        style.textContent = STYLE;
      }
      this._button = document.createElement("button");
      this._button.type = "button";
      this._button.part = "button";
      this._message = document.createElement("p");
      this._message.setAttribute("role", "alert");
      this._message.part = "message";
      if (style) root.append(style);
      root.append(this._button, this._message);
      this._button.textContent = this._text().label;
      this._button.addEventListener("click", this._go.bind(this));
    }

    _text() {
      var holder = this.closest("[lang]");
      var lang = (this.getAttribute("lang") || (holder && holder.getAttribute("lang")) || "en").toLowerCase();
      return lang.indexOf("zh") === 0 ? TEXT.zh : TEXT.en;
    }

    _prompt() {
      var from = this.getAttribute("prompt-from");
      if (from) {
        var node = document.querySelector(from);
        if (node) return node.textContent.trim();
      }
      return (this.getAttribute("prompt") || "").trim();
    }

    _fail(message) {
      this._message.textContent = message;
      this._button.disabled = false;
      this._button.textContent = this._text().label;
    }

    async _go() {
      var text = this._text();
      var prompt = this._prompt();
      if (!prompt) return this._fail(text.noPrompt);
      var api = (this.getAttribute("api") || SCRIPT_ORIGIN).replace(/\/+$/, "");
      var body = {
        agent: this.getAttribute("agent") || "",
        prompt: prompt,
        output_type: this.getAttribute("output-type") || "markdown",
        session_id: this.getAttribute("session-id") || "",
        message_id: this.getAttribute("message-id") || "",
      };
      ["org", "name"].forEach(function (key) {
        if (this.getAttribute(key)) body[key] = this.getAttribute(key);
      }, this);
      var headers = { "Content-Type": "application/json", Accept: "application/json" };
      var token = this.getAttribute("token");
      var sameOrigin = new URL(api, window.location.href).origin === window.location.origin;
      if (token) {
        headers.Authorization = "Token " + token;
      } else if (sameOrigin) {
        headers["X-CSRFToken"] = cookie("csrftoken");
      }
      this._message.textContent = "";
      this._button.disabled = true;
      this._button.textContent = text.busy;
      var response;
      try {
        response = await fetch(api + "/api/v1/schedule-drafts/", {
          method: "POST",
          headers: headers,
          body: JSON.stringify(body),
          // Cookies only to our own origin; another origin authenticates with the token.
          credentials: sameOrigin && !token ? "same-origin" : "omit",
        });
      } catch (err) {
        return this._fail(text.network);
      }
      var data = null;
      try { data = await response.json(); } catch (err) { data = null; }
      if (response.status === 201 && data && data.url) {
        var next = followable(String(data.url), api);
        if (!next) return this._fail(text.badUrl);
        window.location.assign(next);
        return;
      }
      if (response.status === 401) return this._fail(text.signIn);
      if (response.status === 403) return this._fail(text.forbidden);
      if (response.status >= 400 && response.status < 500 && data && data.detail) {
        return this._fail(text.refused + firstReason(data));
      }
      return this._fail(response.status >= 500 || !data ? text.server : text.network);
    }
  }

  window.customElements.define("make-schedule-button", MakeScheduleButton);
})();
