// fincert pages: the on-screen PIN keypad, WebAuthn ceremonies, and file storage (keys generated
// in this browser with WebCrypto, a CSR and a PKCS#12 file built with node-forge).
// Plain JavaScript, no framework; every call to the API sends the page's CSRF token.
(function () {
  'use strict';

  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';

  function api(path, body) {
    return fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, 'Accept': 'application/json' },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.detail || ('HTTP ' + response.status));
          error.problem = data;
          throw error;
        }
        return data;
      });
    });
  }

  // -- the PIN keypad: digits in a shuffled order, as banks show them -----------------------------
  function shuffled(items) {
    var out = items.slice();
    var random = new Uint32Array(out.length);
    crypto.getRandomValues(random);
    for (var i = out.length - 1; i > 0; i--) {
      var j = random[i] % (i + 1);
      var tmp = out[i]; out[i] = out[j]; out[j] = tmp;
    }
    return out;
  }

  function setupKeypad(fieldset) {
    var input = fieldset.querySelector('input');
    var keys = fieldset.querySelector('.keys');
    var dots = fieldset.querySelectorAll('.dots span');
    var lang = document.body.dataset.lang;
    function refresh() {
      for (var i = 0; i < dots.length; i++) dots[i].className = i < input.value.length ? 'on' : '';
    }
    function button(label, title, action) {
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      if (title) b.setAttribute('aria-label', title);
      b.addEventListener('click', function () { action(); refresh(); });
      keys.appendChild(b);
    }
    shuffled(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']).forEach(function (digit, index) {
      if (index === 9) button('⌫', lang === 'en' ? 'Delete one digit' : '한 자리 지우기', function () { input.value = input.value.slice(0, -1); });
      button(digit, null, function () { if (input.value.length < 6) input.value += digit; });
    });
    button(lang === 'en' ? 'Clear' : '지우기', null, function () { input.value = ''; });
    input.addEventListener('input', function () { input.value = input.value.replace(/\D/g, '').slice(0, 6); refresh(); });
    refresh();
  }

  // -- WebAuthn ---------------------------------------------------------------------------------
  function b64uToBuf(text) {
    var b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64u(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = '';
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function creationOptions(json) {
    var o = Object.assign({}, json);
    o.challenge = b64uToBuf(json.challenge);
    o.user = Object.assign({}, json.user, { id: b64uToBuf(json.user.id) });
    o.excludeCredentials = (json.excludeCredentials || []).map(function (c) { return Object.assign({}, c, { id: b64uToBuf(c.id) }); });
    return o;
  }

  function requestOptions(json) {
    var o = Object.assign({}, json);
    o.challenge = b64uToBuf(json.challenge);
    o.allowCredentials = (json.allowCredentials || []).map(function (c) { return Object.assign({}, c, { id: b64uToBuf(c.id) }); });
    return o;
  }

  function credentialJson(credential) {
    var r = credential.response;
    var response = { clientDataJSON: bufToB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = bufToB64u(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = bufToB64u(r.authenticatorData);
      response.signature = bufToB64u(r.signature);
      if (r.userHandle) response.userHandle = bufToB64u(r.userHandle);
    }
    return {
      id: credential.id, rawId: bufToB64u(credential.rawId), type: credential.type, response: response,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      authenticatorAttachment: credential.authenticatorAttachment || undefined
    };
  }

  function setupWebAuthn(box) {
    var error = box.querySelector('[data-webauthn-error]');
    var ok = box.querySelector('[data-webauthn-ok]');
    function fail(message) { error.textContent = message; error.hidden = false; }
    if (!window.PublicKeyCredential) {
      var buttons = box.querySelectorAll('button');
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
      fail(box.dataset.msgUnsupported);
      return;
    }
    var verify = box.querySelector('[data-webauthn-verify]');
    if (verify) verify.addEventListener('click', function () {
      error.hidden = true;
      api('/api/v1/me/verifications/webauthn').then(function (challenge) {
        return navigator.credentials.get({ publicKey: requestOptions(challenge.prompt) }).then(function (credential) {
          return api('/api/v1/me/verifications/webauthn/' + encodeURIComponent(challenge.challenge_id), { response: credentialJson(credential) });
        });
      }).then(function () {
        window.location.assign('/' + box.dataset.flow + '/verify?verified=webauthn');
      }).catch(function (e) { fail(box.dataset.msgFailed + (e.problem && e.problem.detail && document.body.dataset.lang === 'en' ? ' (' + e.problem.detail + ')' : '')); });
    });
    var register = box.querySelector('[data-webauthn-register]');
    if (register) register.addEventListener('click', function () {
      error.hidden = true;
      api('/api/v1/me/webauthn/registration').then(function (begun) {
        return navigator.credentials.create({ publicKey: creationOptions(begun.options) }).then(function (credential) {
          return api('/api/v1/me/webauthn/registration/' + encodeURIComponent(begun.challenge_id), { response: credentialJson(credential) });
        });
      }).then(function () {
        ok.hidden = false;
        window.location.assign('/' + box.dataset.flow + '/verify?registered=webauthn');
      }).catch(function (e) { fail(box.dataset.msgFailed + (e.problem && e.problem.detail && document.body.dataset.lang === 'en' ? ' (' + e.problem.detail + ')' : '')); });
    });
  }

  // -- file storage: WebCrypto RSA-2048 key, CSR and PKCS#12 with node-forge ----------------------
  function strongFilePassword(pw) {
    return pw.length >= 10 && /[A-Za-z]/.test(pw) && /[0-9]/.test(pw) && /[^A-Za-z0-9]/.test(pw);
  }

  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  function setupFileStore(section) {
    var form = section.querySelector('form');
    var error = section.querySelector('[data-file-error]');
    var status = section.querySelector('[data-file-status]');
    var result = section.querySelector('[data-file-result]');
    var link = section.querySelector('[data-file-link]');
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      error.hidden = true;
      var password = form.querySelector('[name=file_password]').value;
      var confirm = form.querySelector('[name=file_password_confirm]').value;
      if (password !== confirm) { error.textContent = section.dataset.msgMismatch; error.hidden = false; return; }
      if (!strongFilePassword(password)) { error.textContent = section.dataset.msgWeak; error.hidden = false; return; }
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      status.textContent = section.dataset.msgWorking;
      var forge = window.forge;
      var randomNum = new Uint8Array(20);
      crypto.getRandomValues(randomNum);
      var privateKey;
      crypto.subtle.generateKey(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        true, ['sign', 'verify']
      ).then(function (pair) {
        return crypto.subtle.exportKey('pkcs8', pair.privateKey);
      }).then(function (pkcs8) {
        var der = forge.util.createBuffer(new Uint8Array(pkcs8).reduce(function (s, b) { return s + String.fromCharCode(b); }, ''));
        privateKey = forge.pki.privateKeyFromAsn1(forge.asn1.fromDer(der));
        var csr = forge.pki.createCertificationRequest();
        csr.publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
        // The CA sets the subject from the member's record; the CSR only proves the key.
        csr.setSubject([{ name: 'commonName', value: 'fincert holder' }]);
        csr.sign(privateKey, forge.md.sha256.create());
        return api('/api/v1/certificates/collect', {
          reference_number: section.dataset.reference, authorization_code: section.dataset.code,
          storage: 'file', csr: forge.pki.certificationRequestToPem(csr), random_num: hex(randomNum)
        });
      }).then(function (issued) {
        var chain = [issued.certificate].concat(issued.chain || []);
        var p12 = forge.pkcs12.toPkcs12Asn1(privateKey, chain, password, {
          algorithm: 'aes256', prfAlgorithm: 'sha256', count: 10000, friendlyName: 'fincert ' + issued.serial
        });
        var bytes = forge.asn1.toDer(p12).getBytes();
        var buffer = new Uint8Array(bytes.length);
        for (var i = 0; i < bytes.length; i++) buffer[i] = bytes.charCodeAt(i);
        link.href = URL.createObjectURL(new Blob([buffer], { type: 'application/x-pkcs12' }));
        link.download = 'fincert-' + issued.serial.slice(0, 16) + '.p12';
        status.textContent = section.dataset.msgDone;
        result.hidden = false;
        form.hidden = true;
        section.dataset.serial = issued.serial;
        section.dataset.randomNum = hex(randomNum);
      }).catch(function (e) {
        button.disabled = false;
        status.textContent = '';
        error.textContent = section.dataset.msgFailed + ' ' + (e.problem && e.problem.detail ? e.problem.detail : e.message);
        error.hidden = false;
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    Array.prototype.forEach.call(document.querySelectorAll('[data-keypad]'), setupKeypad);
    Array.prototype.forEach.call(document.querySelectorAll('[data-webauthn]'), setupWebAuthn);
    Array.prototype.forEach.call(document.querySelectorAll('[data-file-store]'), setupFileStore);
  });
})();
