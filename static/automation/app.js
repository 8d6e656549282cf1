/* The pages' only script, beside htmx: modal dialogs, readable request errors, small controls.
 *
 * - A <dialog data-modal> swapped in by htmx opens as a modal (focus moves in, Escape closes);
 *   when it closes it is removed and focus returns to the control that opened it. A
 *   [data-dialog-close] button or the server's HX-Trigger "dialog:close" closes it.
 * - A failed htmx request (an error status, or no answer at all) shows a message in the
 *   role="alert" region with "Try again"; messages come from the server's page (translated).
 * - select[data-autosubmit] submits its form on change (language, time zone, organization);
 *   form[data-drop-empty] leaves empty fields out of its URL.
 * - The "Viewer time zone" list offers this browser's zone, and the "browser_tz" cookie sends it
 *   with every request: a new schedule's zone starts as the viewer's (automation/workspace.py).
 */
/* Every hx-get/hx-post names its hx-swap: htmx inherits hx-swap and hx-target from ancestors
 * (the table swaps itself outerHTML), which would otherwise leak into links inside it. */
(function () {
  "use strict";
  var opener = null;
  var failed = null;

  function alerts() { return document.getElementById("alerts"); }

  function showError(message, retry) {
    var region = alerts();
    if (!region) return;
    var node = document.getElementById("alert-template").content.firstElementChild.cloneNode(true);
    node.querySelector("[data-alert-message]").textContent = message;
    var again = node.querySelector("[data-alert-retry]");
    if (retry) { again.addEventListener("click", retry); } else { again.remove(); }
    node.querySelector("[data-alert-dismiss]").addEventListener("click", clearError);
    region.replaceChildren(node);
  }

  function clearError() {
    var region = alerts();
    if (region) region.replaceChildren();
    failed = null;
  }

  function retryOf(detail) {
    var elt = detail.elt;
    var event = detail.requestConfig && detail.requestConfig.triggeringEvent;
    return function () {
      clearError();
      if (elt && elt.isConnected && event && event.type) {
        htmx.trigger(elt, event.type);
      } else {
        window.location.reload();
      }
    };
  }

  function serverMessage(xhr) {
    var text = xhr && xhr.responseText;
    if (!text) return "";
    var doc = new DOMParser().parseFromString(text, "text/html");
    var node = doc.querySelector("[data-page-error]");
    return node ? node.textContent.trim() : "";
  }

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var slot = evt.detail.target && (evt.detail.target.id === "drawer" || evt.detail.target.id === "confirm");
    // A form inside the dialog that re-renders it keeps the first opener.
    if (slot && !(document.activeElement && document.activeElement.closest("dialog"))) {
      opener = document.activeElement;
    }
  });

  document.addEventListener("htmx:afterRequest", function (evt) {
    if (evt.detail.successful && failed && failed === evt.detail.elt) clearError();
  });

  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var message = serverMessage(xhr) || document.body.dataset.errorServer + " (" + xhr.status + ")";
    failed = evt.detail.elt;
    // A refused action (4xx) is not worth repeating as is; a server or network error is.
    showError(message, xhr.status >= 500 ? retryOf(evt.detail) : null);
  });

  document.addEventListener("htmx:sendError", function (evt) {
    failed = evt.detail.elt;
    showError(document.body.dataset.errorNetwork, retryOf(evt.detail));
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    var dialog = evt.detail.target.querySelector("dialog[data-modal]");
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
  });

  // A page that arrives with its dialog already open (the editor opened from a chat result)
  // shows it as a modal: closed and reopened, without the close that removes it.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("dialog[data-open-modal][open]").forEach(function (dialog) {
      dialog.dataset.reopening = "true";
      dialog.close();
      dialog.showModal();
    });
  });

  document.addEventListener("close", function (evt) {
    var dialog = evt.target;
    if (!(dialog instanceof HTMLDialogElement) || !dialog.matches("[data-modal]")) return;
    if (dialog.dataset.reopening) {
      delete dialog.dataset.reopening;
      return;
    }
    dialog.remove();
    if (opener && opener.isConnected) {
      opener.focus();
    } else {
      var main = document.getElementById("main");
      if (main) main.focus();
    }
    opener = null;
  }, true);

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-dialog-close]");
    if (button) {
      var dialog = button.closest("dialog");
      if (dialog) dialog.close();
    }
  });

  document.addEventListener("dialog:close", function () {
    document.querySelectorAll("dialog[data-modal][open]").forEach(function (dialog) { dialog.close(); });
  });

  // A filter form leaves its empty fields out of the URL it pushes (?status=&agent= is noise).
  document.addEventListener("htmx:configRequest", function (evt) {
    var elt = evt.detail.elt;
    if (!elt.matches || !elt.matches("form[data-drop-empty]")) return;
    var empty = [];
    evt.detail.formData.forEach(function (value, key) { if (value === "") empty.push(key); });
    empty.forEach(function (key) { evt.detail.formData.delete(key); });
  });

  document.addEventListener("change", function (evt) {
    var select = evt.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
      select.form.requestSubmit();
    }
  });

  // The schedule editor: a cron preset fills the expression (without JavaScript it posts the
  // form, which comes back with the preset applied); a failed save moves focus to the error
  // summary; a new schedule's zone starts as this browser's when the viewer chose none.
  document.addEventListener("click", function (evt) {
    var preset = evt.target.closest("[data-cron-preset]");
    if (!preset || !preset.form) return;
    evt.preventDefault();
    var form = preset.form;
    var cron = form.querySelector("input[name=cron_expression]");
    var type = form.querySelector("input[name=schedule_type][value=cron]");
    if (type) type.checked = true;
    cron.value = preset.dataset.cronPreset;
    // A preset is a whole timing: its calendar too (none for the plain ones).
    var calendar = form.querySelector("input[name=calendar]");
    if (calendar) calendar.value = preset.dataset.calendarPreset || "";
    cron.dispatchEvent(new Event("input", { bubbles: true }));
  });

  function prepareEditor(root) {
    var summary = root.querySelector("[data-error-summary]");
    if (summary) summary.focus();
    var zone = root.querySelector("input[data-browser-default]");
    var browser;
    try { browser = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { browser = ""; }
    if (zone && browser && zone.value !== browser) {
      zone.value = browser;
      zone.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  document.addEventListener("htmx:afterSwap", function (evt) {
    var id = evt.detail.target.id;
    var form = document.getElementById("schedule-form");
    if (form && (id === "drawer" || id === "schedule-form")) prepareEditor(form);
  });

  function offerBrowserZone() {
    var option = document.querySelector("option[data-browser-zone]");
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = ""; }
    if (!option || !zone) return;
    var select = option.closest("select");
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === zone && o !== option; });
    if (known) { option.remove(); return; }
    option.value = zone;
    option.textContent = option.dataset.label.replace("{zone}", zone);
    option.hidden = false;
    option.disabled = false;
  }

  function sendBrowserZone() {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = ""; }
    if (!zone) return;
    var value = encodeURIComponent(zone);
    if (document.cookie.split("; ").indexOf("browser_tz=" + value) !== -1) return;
    document.cookie = "browser_tz=" + value + "; path=/; max-age=31536000; SameSite=Lax" +
      (window.location.protocol === "https:" ? "; Secure" : "");
  }

  function ready() {
    sendBrowserZone();
    offerBrowserZone();
    prepareEditor(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
