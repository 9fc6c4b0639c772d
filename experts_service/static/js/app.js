/* 决策咨询论证专家库 — small, optional enhancements. Every page works without this file. */
(function () {
  "use strict";

  // Ask before submitting forms (or pressing buttons) marked data-confirm="…".
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    var submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      return;
    }
    // Guard against double submission; re-enabled when the page is shown again (back button).
    if (form.method.toLowerCase() === "post") {
      if (form.getAttribute("data-submitting") === "1") {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-submitting", "1");
    }
  });

  window.addEventListener("pageshow", function () {
    var forms = document.querySelectorAll("form[data-submitting]");
    for (var i = 0; i < forms.length; i += 1) {
      forms[i].removeAttribute("data-submitting");
    }
  });

  // User form: show the organisation select only for department users and the
  // expert number only for expert users (both stay visible without JavaScript).
  function syncRoleFields(select) {
    var form = select.form;
    if (!form) {
      return;
    }
    var fields = form.querySelectorAll("[data-role-field]");
    for (var i = 0; i < fields.length; i += 1) {
      var wanted = fields[i].getAttribute("data-role-field") === select.value;
      var hasError = fields[i].classList.contains("has-error");
      fields[i].classList.toggle("is-hidden", !wanted && !hasError);
    }
  }

  function init() {
    var roleSelects = document.querySelectorAll("select[data-role-select]");
    for (var i = 0; i < roleSelects.length; i += 1) {
      syncRoleFields(roleSelects[i]);
      roleSelects[i].addEventListener("change", function (event) {
        syncRoleFields(event.target);
      });
    }
    // Move focus to the first form error so it is announced and visible.
    var firstError = document.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (firstError && typeof firstError.focus === "function") {
      firstError.focus();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
