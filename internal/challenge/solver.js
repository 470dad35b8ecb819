// floodgate challenge solver. Reads its challenge from form#fg-form
// (data-nonce, data-bits, data-level, data-done), finds a counter c such that
// SHA-256(nonce + c) starts with `bits` zero bits, puts it in the form's
// input[name=a] and submits the form. Work level: in a Web Worker, with
// progress in progress#fg-progress; script level: inline. No external
// resources; SHA-256 is implemented here because crypto.subtle is missing on
// plain-HTTP sites.
(function () {
  "use strict";
  var form = document.getElementById("fg-form");
  if (!form) return;
  var nonce = form.getAttribute("data-nonce"), bits = +form.getAttribute("data-bits");
  var bar = document.getElementById("fg-progress"), status = document.getElementById("fg-status");
  var MAX = 1e12; // give up past this many tries (about 2^40)

  function sha(s) {
    var K = sha.K, H = sha.H, i, j;
    if (!K) {
      K = sha.K = []; H = sha.H = [];
      for (var n = 2, p = 0; p < 64; n++) {
        for (j = 2; j * j <= n && n % j; j++);
        if (j * j > n) {
          if (p < 8) H[p] = (Math.pow(n, 1 / 2) * 4294967296) | 0;
          K[p++] = (Math.pow(n, 1 / 3) * 4294967296) | 0;
        }
      }
    }
    var l = s.length, nb = ((l + 8) >> 6) + 1, m = new Int32Array(nb * 16), w = new Int32Array(64), h = H.slice();
    for (i = 0; i < l; i++) m[i >> 2] |= (s.charCodeAt(i) & 255) << (24 - (i & 3) * 8);
    m[l >> 2] |= 0x80 << (24 - (l & 3) * 8);
    m[nb * 16 - 1] = l * 8;
    for (i = 0; i < nb * 16; i += 16) {
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (j = 0; j < 64; j++) {
        var x;
        if (j < 16) x = m[i + j];
        else {
          var u = w[j - 15], v = w[j - 2];
          x = (w[j - 16] + ((u >>> 7 | u << 25) ^ (u >>> 18 | u << 14) ^ (u >>> 3)) + w[j - 7] +
            ((v >>> 17 | v << 15) ^ (v >>> 19 | v << 13) ^ (v >>> 10))) | 0;
        }
        w[j] = x;
        var t1 = (k + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + ((e & f) ^ (~e & g)) + K[j] + x) | 0;
        var t2 = (((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
    }
    return h;
  }
  function good(h, bits) {
    for (var i = 0; bits >= 32; bits -= 32, i++) if (h[i] !== 0) return false;
    return bits === 0 || (h[i] >>> (32 - bits)) === 0;
  }
  // search tries counters from c for n steps; it returns the answer or -1.
  function search(nonce, bits, c, n) {
    for (var end = c + n; c < end; c++) if (good(sha(nonce + c), bits)) return c;
    return -1;
  }

  function finish(c) {
    form.elements.a.value = String(c);
    if (bar) bar.value = 1;
    if (status) status.textContent = form.getAttribute("data-done");
    form.submit();
  }
  function progress(tries) {
    if (bar) bar.value = 1 - Math.exp(-tries / Math.pow(2, bits));
  }
  // inline solves on this thread in slices, so the page stays responsive.
  function inline(c) {
    var r = search(nonce, bits, c, 20000);
    if (r >= 0) return finish(r);
    progress(c + 20000);
    if (c < MAX) setTimeout(function () { inline(c + 20000); }, 0);
  }
  if (form.getAttribute("data-level") !== "work" || typeof Worker === "undefined") return inline(0);
  try {
    var src = sha + "\n" + good + "\n" + search + "\nonmessage=function(e){var n=e.data.n,b=e.data.b;" +
      "for(var c=0;c<" + MAX + ";c+=20000){var r=search(n,b,c,20000);if(r>=0){postMessage({done:r});return}postMessage({tries:c+20000})}};";
    var wk = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
    wk.onmessage = function (e) {
      if (e.data.done !== undefined) { wk.terminate(); finish(e.data.done); } else progress(e.data.tries);
    };
    wk.onerror = function (e) { e.preventDefault(); wk.terminate(); inline(0); };
    wk.postMessage({ n: nonce, b: bits });
  } catch (err) {
    inline(0); // workers refused (policy, old browser): solve here
  }
})();
