/* PromoHub page-view tracker: first-party, no third-party code.
   <script async src="https://<promohub>/t/p.js" data-site="<site key>"></script> */
(function () {
  var script = document.currentScript;
  if (!script) return;
  var key = script.getAttribute("data-site");
  var base = script.src.replace(/\/t\/p\.js(\?.*)?$/, "");
  if (!key) return;
  var name = "ph_vid";
  function readId() {
    try { var v = localStorage.getItem(name); if (v) return v; } catch (e) {}
    var m = document.cookie.match(/(?:^|; )ph_vid=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : null;
  }
  function newId() {
    var b = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  var visitor = readId() || newId();
  try { localStorage.setItem(name, visitor); } catch (e) {}
  document.cookie = name + "=" + encodeURIComponent(visitor) + "; path=/; max-age=34560000; SameSite=Lax";
  window.promohub = { visitorId: visitor };
  // A tracked email link names its lead: sent once, then taken off the URL.
  var lead = null;
  try {
    var u = new URL(location.href);
    lead = u.searchParams.get("ph_lid");
    if (lead && history.replaceState) { u.searchParams.delete("ph_lid"); history.replaceState(history.state, "", u.toString()); }
  } catch (e) {}
  function send() {
    var body = JSON.stringify({
      k: key, v: visitor, u: location.href, r: document.referrer || null,
      t: document.title || null, w: screen.width, h: screen.height, l: lead
    });
    lead = null;
    // text/plain: no CORS preflight.
    if (navigator.sendBeacon && navigator.sendBeacon(base + "/t/pv", new Blob([body], { type: "text/plain" }))) return;
    fetch(base + "/t/pv", { method: "POST", body: body, keepalive: true, mode: "no-cors", headers: { "Content-Type": "text/plain" } });
  }
  // Forms embedded from PromoHub learn the visitor and the page.
  function tagForms() {
    var frames = document.querySelectorAll("iframe[src^='" + base + "/f/']");
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      if (f.getAttribute("data-ph")) continue;
      var sep = f.src.indexOf("?") < 0 ? "?" : "&";
      f.setAttribute("data-ph", "1");
      f.src = f.src + sep + "visitor=" + encodeURIComponent(visitor) + "&page=" + encodeURIComponent(location.href);
    }
    var inputs = document.querySelectorAll("form input[name='_visitor']");
    for (var j = 0; j < inputs.length; j++) inputs[j].value = visitor;
  }
  send();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", tagForms); else tagForms();
  // Single-page apps: a view per history change.
  var push = history.pushState;
  history.pushState = function () { push.apply(this, arguments); setTimeout(send, 0); };
  window.addEventListener("popstate", send);
})();
