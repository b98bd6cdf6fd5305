/* V-Mitra web chat page: draws the bot's replies and sends what the user does as JSON.
 * Every text from the server is drawn with textContent (never innerHTML), so names and
 * addresses from the register can never inject markup. */
"use strict";

(function () {
  const UI = {
    en: {
      tagline: "Report electricity theft · MP East Discom",
      demo: "demo data",
      demo_title: "The consumer register is generated demo data ({count} consumers), not real consumers.",
      demo_note: "Demo data: the consumer register is generated, not real. Consumers cluster around the district towns on the map.",
      demo_try: "Try reporting IVRS {ivrs}.",
      welcome: "Report electricity theft to MP East Discom. Your identity stays confidential.",
      start: "Start / शुरू करें",
      cmd_report: "Report theft", cmd_nearby: "Nearby", cmd_status: "My complaints",
      cmd_language: "हिन्दी / English", cmd_help: "Help", cmd_cancel: "Cancel",
      placeholder: "Type a message…",
      send: "Send",
      use_gps: "📍 Use my location",
      gps_unavailable: "Location is not available in this browser. For the demo, click the map or type coordinates.",
      gps_failed: "Could not get your location ({reason}). For the demo, click the map or type coordinates.",
      gps_waiting: "Getting your location…",
      map_hint: "Demo only: click the map to pick a point. Offline map: district towns and a grid, no streets.",
      send_point: "Send this point (demo)",
      typed_label: "Typed coordinates (demo only)",
      typed_bad: "Type two numbers: latitude, longitude (e.g. 23.1815, 79.9864).",
      phone_label: "Your mobile number",
      register: "Register",
      no_sms: "Demo: no SMS is sent; the number is only checked for format.",
      choose_photo: "📷 Choose a photo",
      send_photo: "Send photo",
      cancel: "Cancel",
      photo_too_large: "This photo is larger than {mb} MB. Please choose a smaller one.",
      not_image: "Please choose an image file (JPEG or PNG).",
      network: "Cannot reach the bot. Check that it is running, then try again.",
      session: "Your session has expired. Please reload the page.",
      restarted: "The bot was restarted; earlier messages are no longer shown.",
      you_location: "📍 Location ({source}): {lat}, {lon}",
      source_gps: "GPS", source_map: "map, demo", source_typed: "typed, demo",
      you_photo: "📷 Photo ({size})",
      map_label: "📍 {lat}, {lon}",
      too_large: "Too large: {message}",
    },
    hi: {
      tagline: "बिजली चोरी की सूचना · म.प्र. पूर्व क्षेत्र विद्युत वितरण कंपनी",
      demo: "डेमो डेटा",
      demo_title: "उपभोक्ता रजिस्टर डेमो के लिए बनाया गया है ({count} उपभोक्ता), असली नहीं।",
      demo_note: "डेमो डेटा: उपभोक्ता रजिस्टर बनाया गया है, असली नहीं। उपभोक्ता नक्शे पर ज़िला मुख्यालयों के आसपास हैं।",
      demo_try: "आज़माने के लिए IVRS {ivrs} की सूचना दें।",
      welcome: "म.प्र. पूर्व क्षेत्र विद्युत वितरण कंपनी को बिजली चोरी की सूचना दें। आपकी पहचान गोपनीय रहती है।",
      start: "शुरू करें / Start",
      cmd_report: "चोरी की सूचना", cmd_nearby: "आसपास", cmd_status: "मेरी शिकायतें",
      cmd_language: "हिन्दी / English", cmd_help: "मदद", cmd_cancel: "रद्द करें",
      placeholder: "संदेश लिखें…",
      send: "भेजें",
      use_gps: "📍 मेरी लोकेशन भेजें",
      gps_unavailable: "इस ब्राउज़र में लोकेशन उपलब्ध नहीं है। डेमो के लिए नक्शे पर क्लिक करें या निर्देशांक लिखें।",
      gps_failed: "आपकी लोकेशन नहीं मिली ({reason})। डेमो के लिए नक्शे पर क्लिक करें या निर्देशांक लिखें।",
      gps_waiting: "लोकेशन ली जा रही है…",
      map_hint: "केवल डेमो: बिंदु चुनने के लिए नक्शे पर क्लिक करें। ऑफ़लाइन नक्शा: ज़िला मुख्यालय और ग्रिड, सड़कें नहीं।",
      send_point: "यह बिंदु भेजें (डेमो)",
      typed_label: "लिखे हुए निर्देशांक (केवल डेमो)",
      typed_bad: "दो संख्याएँ लिखें: अक्षांश, देशांतर (जैसे 23.1815, 79.9864)।",
      phone_label: "आपका मोबाइल नंबर",
      register: "पंजीकरण करें",
      no_sms: "डेमो: कोई SMS नहीं भेजा जाता; नंबर का केवल प्रारूप जाँचा जाता है।",
      choose_photo: "📷 फ़ोटो चुनें",
      send_photo: "फ़ोटो भेजें",
      cancel: "रद्द करें",
      photo_too_large: "यह फ़ोटो {mb} MB से बड़ी है। कृपया छोटी फ़ोटो चुनें।",
      not_image: "कृपया कोई फ़ोटो फ़ाइल (JPEG या PNG) चुनें।",
      network: "बॉट से संपर्क नहीं हो पा रहा। जाँचें कि वह चल रहा है, फिर दोबारा कोशिश करें।",
      session: "आपका सत्र समाप्त हो गया है। कृपया पेज दोबारा लोड करें।",
      restarted: "बॉट दोबारा शुरू हुआ; पहले के संदेश अब नहीं दिखेंगे।",
      you_location: "📍 लोकेशन ({source}): {lat}, {lon}",
      source_gps: "GPS", source_map: "नक्शा, डेमो", source_typed: "लिखा हुआ, डेमो",
      you_photo: "📷 फ़ोटो ({size})",
      map_label: "📍 {lat}, {lon}",
      too_large: "बहुत बड़ा: {message}",
    },
  };

  const $ = (id) => document.getElementById(id);
  const state = { csrf: "", epoch: "", lastSeq: 0, lang: "en", limits: { photo_max_bytes: 10485760 }, map: null };
  let queue = Promise.resolve();
  let mapView = null;
  let mapPoint = null;
  let photoFile = null;
  let previewUrl = null;

  function t(key, values) {
    const table = UI[state.lang] || UI.en;
    let text = table[key] !== undefined ? table[key] : UI.en[key] || key;
    for (const [name, value] of Object.entries(values || {})) text = text.split("{" + name + "}").join(String(value));
    return text;
  }

  function applyLanguage(lang) {
    if (lang !== "en" && lang !== "hi") return;
    state.lang = lang;
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    $("text").placeholder = t("placeholder");
    if (state.demo && state.demo.active) {
      $("demo-badge").title = t("demo_title", { count: state.demo.consumers || "" });
      $("demo-try").textContent = state.demo.example_ivrs ? t("demo_try", { ivrs: state.demo.example_ivrs }) : "";
    }
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function showStatus(text) { $("status-line").textContent = text || ""; }

  function scrollDown() { const log = $("log"); log.scrollTop = log.scrollHeight; }

  // --- drawing --------------------------------------------------------------------------------

  function drawBot(message) {
    const item = el("div", "msg bot");
    item.dataset.seq = String(message.seq);
    for (const url of message.photos || []) {
      if (typeof url !== "string" || !url.startsWith("/api/reply-photo?")) continue;
      const img = el("img");
      img.src = url;
      img.alt = "";
      item.append(img);
    }
    if (message.text) item.append(el("p", "text", message.text));
    if (message.pin) item.append(el("p", "text", t("map_label", { lat: fix(message.pin.lat), lon: fix(message.pin.lon) })));
    if (message.choices && message.choices.length) {
      for (const old of document.querySelectorAll(".msg.bot.has-choices")) old.classList.add("stale");
      item.classList.add("has-choices");
      const box = el("div", "choices");
      for (const row of message.choices) {
        const line = el("div", "row");
        for (const choice of row) {
          const button = el("button", "choice", choice.label);
          button.type = "button";
          button.dataset.payload = choice.payload;
          button.addEventListener("click", () => sendChoice(choice.payload, choice.label));
          line.append(button);
        }
        box.append(line);
      }
      item.append(box);
    }
    $("log").append(item);
  }

  function drawMine(text, imageUrl) {
    const item = el("div", "msg me");
    if (imageUrl) {
      const img = el("img");
      img.src = imageUrl;
      img.alt = "";
      item.append(img);
    }
    item.append(el("p", "text", text));
    $("log").append(item);
    scrollDown();
  }

  function drawSystem(text) { $("log").append(el("div", "msg system", text)); }

  function apply(data) {
    if (!data) return;
    if (data.epoch && data.epoch !== state.epoch) {
      if (state.epoch && state.lastSeq > 0) drawSystem(t("restarted"));
      state.epoch = data.epoch;
      state.lastSeq = 0;
    }
    let last = null;
    for (const message of data.messages || []) {
      if (message.seq <= state.lastSeq) continue;
      state.lastSeq = message.seq;
      drawBot(message);
      last = message;
    }
    if (data.language) applyLanguage(data.language);
    if (last) {
      $("welcome").hidden = true;
      openPanel(last.ask);
      scrollDown();
    }
  }

  // --- panels for special input --------------------------------------------------------------

  function openPanel(kind) {
    $("ask-location").hidden = kind !== "location";
    $("ask-contact").hidden = kind !== "contact";
    $("ask-photo").hidden = kind !== "photo";
    if (kind === "location") initMap();
    if (kind === "contact") $("phone").focus();
  }

  function togglePanel(kind) {
    const panel = $("ask-" + kind);
    openPanel(panel.hidden ? kind : null);
  }

  // --- talking to the server -----------------------------------------------------------------

  async function call(path, options) {
    const response = await fetch(path, {
      credentials: "same-origin",
      ...options,
      headers: { "X-CSRF-Token": state.csrf, ...(options && options.headers) },
    });
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (response.status === 401) throw new Error(t("session"));
    if (response.status === 413) throw new Error(t("too_large", { message: (data && data.message) || "" }));
    if (!response.ok) throw new Error((data && data.message) || response.statusText);
    return data;
  }

  function enqueue(work) {
    queue = queue.then(work).catch((error) => showStatus(error.message || t("network")));
    return queue;
  }

  function post(body) {
    return enqueue(async () => {
      showStatus("");
      const data = await call("/api/message", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ...body, id: newId(), after: state.lastSeq }),
      });
      apply(data);
    });
  }

  function sendText(text) {
    const clean = text.trim();
    if (!clean) return;
    drawMine(clean);
    post({ text: clean });
  }

  function sendChoice(payload, label) {
    drawMine(label);
    post({ choice: payload });
  }

  function sendLocation(lat, lon, source) {
    drawMine(t("you_location", { source: t("source_" + source), lat: fix(lat), lon: fix(lon) }));
    post({ location: { lat, lon, source } });
  }

  function fix(value) { return Number(value).toFixed(5); }

  async function poll() {
    for (;;) {
      try {
        const data = await call("/api/messages?after=" + state.lastSeq + "&wait=25", { method: "GET" });
        apply(data);
      } catch (error) {
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
  }

  // --- location: GPS, map click, typed -------------------------------------------------------

  function useGps() {
    if (!navigator.geolocation) { showStatus(t("gps_unavailable")); return; }
    showStatus(t("gps_waiting"));
    navigator.geolocation.getCurrentPosition(
      (position) => { showStatus(""); sendLocation(position.coords.latitude, position.coords.longitude, "gps"); },
      (error) => showStatus(t("gps_failed", { reason: error.message || error.code })),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  }

  async function initMap() {
    if (mapView || !window.L || !state.map) { if (mapView) mapView.invalidateSize(); return; }
    const [south, west, north, east] = state.map.bbox;
    mapView = L.map("map", { attributionControl: false, zoomSnap: 0.5, minZoom: 6, maxZoom: 17 });
    mapView.setView(state.map.center, 8);
    mapView.setMaxBounds([[south - 1, west - 1], [north + 1, east + 1]]);
    L.rectangle([[south, west], [north, east]], { color: "#0b5cad", weight: 1, dashArray: "6 4", fill: false, interactive: false }).addTo(mapView);
    const grid = L.layerGroup().addTo(mapView);
    const drawGrid = () => {
      grid.clearLayers();
      const view = mapView.getBounds();
      const span = Math.max(view.getNorth() - view.getSouth(), view.getEast() - view.getWest());
      const step = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2].find((s) => span / s <= 12) || 2;
      const style = { color: "#9fb3c8", weight: 0.6, interactive: false };
      for (let lat = Math.floor(view.getSouth() / step) * step; lat <= view.getNorth(); lat += step) {
        L.polyline([[lat, view.getWest()], [lat, view.getEast()]], style).addTo(grid);
      }
      for (let lon = Math.floor(view.getWest() / step) * step; lon <= view.getEast(); lon += step) {
        L.polyline([[view.getSouth(), lon], [view.getNorth(), lon]], style).addTo(grid);
      }
    };
    mapView.on("moveend zoomend", drawGrid);
    drawGrid();
    try {
      const area = await (await fetch("/static/service-area.json", { credentials: "same-origin" })).json();
      for (const town of area.towns || []) {
        const label = el("span", "", state.lang === "hi" ? town.hi : town.name);
        L.circleMarker([town.lat, town.lon], { radius: 4, color: "#084887", weight: 1, fillOpacity: 0.8 })
          .bindTooltip(label, { permanent: true, direction: "right", className: "district-label", offset: [4, 0] })
          .addTo(mapView);
      }
    } catch (_) { /* the map still works without the town names */ }
    let marker = null;
    mapView.on("click", (event) => {
      mapPoint = event.latlng;
      if (marker) marker.setLatLng(mapPoint);
      else marker = L.circleMarker(mapPoint, { radius: 7, color: "#b3261e", weight: 2, fillOpacity: 0.5 }).addTo(mapView);
      $("map-point").textContent = fix(mapPoint.lat) + ", " + fix(mapPoint.lng);
      $("send-map").disabled = false;
    });
  }

  function sendTyped(event) {
    event.preventDefault();
    const parts = $("typed").value.split(/[\s,;]+/).filter(Boolean).map(Number);
    if (parts.length !== 2 || parts.some((n) => !Number.isFinite(n))) { showStatus(t("typed_bad")); return; }
    $("typed").value = "";
    sendLocation(parts[0], parts[1], "typed");
  }

  // --- contact ---------------------------------------------------------------------------------

  function sendContact(event) {
    event.preventDefault();
    const phone = $("phone").value.trim();
    if (!phone) return;
    $("phone").value = "";
    drawMine("📱 " + phone);
    post({ contact: { phone } });
  }

  // --- photo -----------------------------------------------------------------------------------

  function clearPhoto() {
    photoFile = null;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    $("preview").hidden = true;
    $("preview-img").removeAttribute("src");
    $("photo-input").value = "";
    $("send-photo").disabled = true;
  }

  function pickPhoto() {
    const file = $("photo-input").files[0];
    clearPhoto();
    if (!file) return;
    if (!file.type.startsWith("image/")) { showStatus(t("not_image")); return; }
    const limit = state.limits.photo_max_bytes;
    if (file.size > limit) { showStatus(t("photo_too_large", { mb: Math.round(limit / 1048576) })); return; }
    showStatus("");
    photoFile = file;
    previewUrl = URL.createObjectURL(file);
    $("preview-img").src = previewUrl;
    $("preview-caption").textContent = file.name + " · " + sizeText(file.size);
    $("preview").hidden = false;
    $("send-photo").disabled = false;
  }

  function sizeText(bytes) { return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.ceil(bytes / 1024) + " KB"; }

  function sendPhoto() {
    if (!photoFile) return;
    const file = photoFile;
    const shown = URL.createObjectURL(file);
    drawMine(t("you_photo", { size: sizeText(file.size) }), shown);
    clearPhoto();
    enqueue(async () => {
      const form = new FormData();
      form.append("photo", file, file.name || "photo.jpg");
      const query = "?id=" + encodeURIComponent(newId()) + "&after=" + state.lastSeq;
      apply(await call("/api/photo" + query, { method: "POST", body: form }));
    });
  }

  // --- start -----------------------------------------------------------------------------------

  async function bootstrap() {
    const response = await fetch("/api/bootstrap", { credentials: "same-origin" });
    if (!response.ok) throw new Error(t("network"));
    const data = await response.json();
    state.csrf = data.csrf;
    state.limits = data.limits || state.limits;
    state.map = data.map;
    state.demo = data.demo;
    if (data.demo && data.demo.active) {
      $("demo-badge").hidden = false;
      $("demo-note").hidden = false;
      $("demo-try").hidden = false;
    }
    applyLanguage(data.language);
    apply(data);
  }

  function wire() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("text");
      sendText(input.value);
      input.value = "";
    });
    $("start").addEventListener("click", () => sendText("/start"));
    for (const button of document.querySelectorAll("[data-command]")) {
      button.addEventListener("click", () => sendText(button.dataset.command));
    }
    $("use-gps").addEventListener("click", useGps);
    $("send-map").addEventListener("click", () => {
      if (mapPoint) sendLocation(mapPoint.lat, mapPoint.lng, "map");
    });
    $("typed-form").addEventListener("submit", sendTyped);
    $("contact-form").addEventListener("submit", sendContact);
    $("photo-input").addEventListener("change", pickPhoto);
    $("send-photo").addEventListener("click", sendPhoto);
    $("cancel-photo").addEventListener("click", () => { clearPhoto(); openPanel(null); });
    $("open-photo").addEventListener("click", () => togglePanel("photo"));
    $("open-location").addEventListener("click", () => togglePanel("location"));
  }

  document.addEventListener("DOMContentLoaded", async () => {
    wire();
    applyLanguage((navigator.language || "en").slice(0, 2) === "hi" ? "hi" : "en");
    try {
      await bootstrap();
      poll();
    } catch (error) {
      showStatus(error.message || t("network"));
    }
  });
})();
