// Store kiosk: sends the typed MAC to this server once, shows the receipt,
// and forgets the MAC (the field is cleared). No storage, no third parties.
"use strict";
(function () {
  var form = document.getElementById("optout");
  var input = document.getElementById("mac");
  var error = document.getElementById("mac-error");
  var done = document.getElementById("done");
  var receipt = null;

  function showError(msg) {
    error.textContent = msg;
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    var mac = input.value.trim();
    if (!/^([0-9A-Fa-f]{2}[:\-]?){5}[0-9A-Fa-f]{2}$/.test(mac)) {
      showError("That does not look like a Wi-Fi address: six pairs of letters a-f and digits.");
      return;
    }
    fetch("/v1/footfall/optout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ mac: mac }),
      credentials: "omit",
      cache: "no-store",
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      input.value = "";
      if (!res.ok) {
        showError((res.body && res.body.error && res.body.error.message) || "Something went wrong; please try again.");
        return;
      }
      receipt = res.body.receipt;
      document.getElementById("deleted").textContent = String(res.body.sessions_deleted);
      form.hidden = true;
      done.hidden = false;
      done.focus();
    }).catch(function () {
      showError("Could not reach the server; please try again.");
    });
  });

  document.getElementById("save").addEventListener("click", function () {
    if (!receipt) return;
    var blob = new Blob([JSON.stringify(receipt, null, 2)], { type: "application/json" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "fineline-optout-receipt.json";
    document.body.appendChild(a);
    a.click();
    a.remove();
  });

  document.getElementById("again").addEventListener("click", function () {
    receipt = null;
    done.hidden = true;
    form.hidden = false;
    input.focus();
  });
})();
