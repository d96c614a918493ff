// Served with the operator admin's page (app/admin/__init__.py: add_admin_extras).
(function () {
  "use strict";

  // Counts: the row count under a list says "10,000+" or "about 1,000,000" when the
  // count endpoint answered with a bound or an estimate (header X-Count-Kind).
  var answer = null;
  var open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function () {
    // An operator who must enrol in two-factor sign-in first is sent to the enrolment
    // page (app/admin/two_factor.py answers 403 with its address in this header).
    this.addEventListener("load", function () {
      var enrol = this.status === 403 && this.getResponseHeader("X-MFA-Enrolment-Required");
      if (enrol) location.href = enrol;
    });
    this.addEventListener("load", function () {
      if (!/\/count\/(\?|$)/.test(this.responseURL) || this.status !== 200) return;
      try {
        answer = {count: JSON.parse(this.responseText).count,
                  kind: this.getResponseHeader("X-Count-Kind") || "exact"};
      } catch (error) { answer = null; }
      relabel();
    });
    return open.apply(this, arguments);
  };

  function relabel() {
    var shown = document.getElementById("result_count");
    if (!shown || !answer || answer.kind === "exact") return;
    var plain = " " + answer.count + " ";
    var label = answer.kind === "estimate"
      ? " about " + answer.count.toLocaleString("en") + " "
      : " " + answer.count.toLocaleString("en") + "+ ";
    var text = shown.textContent;
    var at = text.lastIndexOf(plain);
    if (at >= 0) shown.textContent = text.slice(0, at) + label + text.slice(at + plain.length);
  }

  // Pickers: a form field whose schema names a table (extra.foreign_key) suggests
  // that table's rows as the operator types part of a name or number.
  var schemas = {};

  function formSlug() {
    var match = location.hash.match(/^#\/forms\/([^/?]+)/);
    return match ? match[1] : null;
  }

  function enhanceForm() {
    var slug = formSlug();
    if (!slug) return;
    if (!schemas[slug]) {
      schemas[slug] = fetch("./api/forms/" + slug + "/schema/", {credentials: "same-origin"})
        .then(function (response) { return response.json(); });
    }
    schemas[slug].then(function (schema) {
      Object.keys(schema.properties || {}).forEach(function (name) {
        var extra = schema.properties[name].extra;
        var input = document.querySelector("form input[name='" + name + "']");
        if (extra && extra.foreign_key && input && !input.dataset.picker) {
          attachPicker(input, extra.foreign_key.to);
        } else if (extra && extra.choices && input && !input.dataset.choices) {
          attachChoices(input, extra.choices);
        }
      });
    });
  }

  function attachPicker(input, table) {
    input.dataset.picker = table;
    input.placeholder = "Type part of a name or number, then pick";
    input.autocomplete = "off";
    var list = document.createElement("datalist");
    list.id = "picker-" + input.name;
    input.after(list);
    input.setAttribute("list", list.id);
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { suggest(input, table, list); }, 200);
    });
    suggest(input, table, list);
  }

  // A form field with choices (app/admin/consent_ledger.py: chosen) suggests them.
  function attachChoices(input, choices) {
    input.dataset.choices = "true";
    var list = document.createElement("datalist");
    list.id = "choices-" + input.name;
    Object.keys(choices).forEach(function (name) {
      var option = document.createElement("option");
      option.value = choices[name].value;
      option.label = choices[name].display_name;
      list.append(option);
    });
    input.after(list);
    input.setAttribute("list", list.id);
    input.autocomplete = "off";
  }

  function suggest(input, table, list) {
    var url = "./api/tables/" + table + "/ids/?limit=20&search=" + encodeURIComponent(input.value);
    fetch(url, {credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (rows) {
        list.replaceChildren.apply(list, Object.keys(rows).map(function (id) {
          var option = document.createElement("option");
          option.value = id;
          option.label = rows[id];
          option.textContent = rows[id];
          return option;
        }));
      });
  }

  // A lead's row page: the id in the hash and its edit form (the form holding Save;
  // a list page also holds hidden modal and filter forms, which must not be used).
  function leadRow() {
    var match = location.hash.match(/^#\/lead\/(\d+)\/?$/);
    var form = match && document.querySelector("#app form:has([data-uitest=save_button])");
    return form ? {id: match[1], form: form} : null;
  }

  // The notes above a lead's edit form, in this order, each placed again whenever the
  // admin re-renders the form or the page.
  var ROW_NOTES = ["lead-page-link", "lead-zone"];

  function placeAboveRowForm(row) {
    ROW_NOTES.forEach(function (id) {
      var note = document.getElementById(id);
      if (!note) return;
      if (note.dataset.lead !== row.id) { note.remove(); return; }
      var next = note.nextElementSibling;
      var placed = next === row.form || (id === "lead-page-link" && next &&
        next.id === "lead-zone" && next.nextElementSibling === row.form);
      if (!placed) row.form.before(note);
    });
  }

  // A lead's page says which zone its local time is read in, and why (the engine's
  // order: its timezone, else its number's zones, else the workspace's).
  var zoneAsked = null;  // the lead whose zone is being fetched

  function showLeadZone(row) {
    var shown = document.getElementById("lead-zone");
    if ((shown && shown.dataset.lead === row.id) || zoneAsked === row.id) return;
    zoneAsked = row.id;
    fetch("./lead-zone/" + row.id + "/", {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; })
      .then(function (zone) {
        zoneAsked = null;
        var now = leadRow();
        if (!zone || !now || now.id !== row.id) return;
        var note = document.getElementById("lead-zone") || document.createElement("p");
        note.id = "lead-zone";
        note.dataset.lead = row.id;
        note.style.cssText = "padding:0.5em 1em;border-left:4px solid #2a7ae2;";
        var zones = zone.zones.join(", ");
        note.textContent = "Local time read in " + zones + " (" + zone.zone_source + "): " +
          zone.zone_reason + ".";
        now.form.before(note);  // below the link: the observer keeps the order
      });
  }

  // A lead's page (app/admin/lead_page.py) is linked from every lead in a list and
  // from the lead's own row page.
  function linkLeadPages() {
    document.querySelectorAll("#app table a[href^='#/lead/']").forEach(function (link) {
      var match = link.getAttribute("href").match(/^#\/lead\/(\d+)\/$/);
      var next = link.nextElementSibling;
      if (!match || (next && next.classList.contains("lead-page-link"))) return;
      link.after(leadPageLink(match[1], "page", "lead-page-link"));
    });
  }

  // On a lead's row page: the link to its page, the zone note, both above its form;
  // elsewhere, neither.
  function annotateLeadRow() {
    var row = leadRow();
    if (!row) {
      ROW_NOTES.forEach(function (id) {
        var note = document.getElementById(id);
        if (note) note.remove();
      });
      return;
    }
    if (!document.getElementById("lead-page-link")) {
      var paragraph = document.createElement("p");
      paragraph.id = "lead-page-link";
      paragraph.dataset.lead = row.id;
      paragraph.append(leadPageLink(row.id, "Open the lead's page: consent, timeline, why not",
                                    "lead-page-link"));
      row.form.before(paragraph);
    }
    placeAboveRowForm(row);
    showLeadZone(row);
  }

  function leadPageLink(leadId, text, className) {
    var link = document.createElement("a");
    link.href = "./lead-page/" + leadId + "/";
    link.className = className;
    link.textContent = text;
    link.title = "The lead's page";
    link.style.cssText = "margin-left:0.5em;font-size:0.85em;";
    return link;
  }

  // Read-only tables (every write refused by the server, app/admin/hooks.py): their
  // list and row pages offer no add, edit or delete.
  var readOnlyTables = window.MASTERPLAN_READ_ONLY_TABLES || [];
  var hidden = document.createElement("style");
  hidden.textContent = [
    "a.button[href$='/add/']",
    "[data-uitest=delete_row_button]",
    "[data-uitest=save_button]",
    "#app table input[type=checkbox]",
    "#app table a:has(> svg[data-icon=ellipsis-vertical])"
  ].map(function (selector) { return "html[data-read-only-table] " + selector; }).join(",\n") +
    " { display: none !important; }";
  document.head.append(hidden);

  // Two-factor sign-in off (ADMIN_MFA=off): the user menu's *MFA Setup* leads nowhere.
  if (window.MASTERPLAN_TWO_FACTOR === false) {
    var noSetup = document.createElement("style");
    noSetup.textContent = "li:has(> a[href='./api/mfa-setup/']) { display: none !important; }";
    document.head.append(noSetup);
  }

  function markReadOnly() {
    var match = location.hash.match(/^#\/([a-z0-9_]+)(?:\/|\?|$)/);
    var table = match && readOnlyTables.indexOf(match[1]) >= 0 ? match[1] : null;
    var root = document.documentElement;
    if (table && root.dataset.readOnlyTable !== table) root.dataset.readOnlyTable = table;
    if (!table && root.dataset.readOnlyTable) delete root.dataset.readOnlyTable;
  }

  markReadOnly();
  window.addEventListener("hashchange", markReadOnly);

  new MutationObserver(function () {
    relabel(); enhanceForm(); linkLeadPages(); annotateLeadRow(); markReadOnly();
  })
    .observe(document.documentElement, {childList: true, subtree: true, characterData: true});
})();
