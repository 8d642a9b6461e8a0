// fincert pages: the on-screen PIN keypad, WebAuthn ceremonies, and key files (keys generated in
// this browser with WebCrypto; CSRs, PKCS#12 files with the randomNum attribute, CMS signatures and
// renewal proofs made with node-forge).
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

  // -- key files: WebCrypto RSA-2048 keys, CSRs, and PKCS#12 files built with node-forge ---------
  // node-forge's own PKCS#12 writer drops the private key's attributes, and the KISA randomNum
  // attribute (the VID secret) must survive in the file: the PrivateKeyInfo, its encryption into
  // a pkcs8ShroudedKeyBag and the PFX around it are assembled here with forge.asn1.
  var RANDOM_NUM_OID = '1.2.410.200004.10.1.1.3';
  var PBE = { algorithm: 'aes256', prfAlgorithm: 'sha256', count: 10000 };

  function strongFilePassword(pw) {
    return pw.length >= 10 && /[A-Za-z]/.test(pw) && /[0-9]/.test(pw) && /[^A-Za-z0-9]/.test(pw);
  }

  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  function bytesToBinary(bytes) {
    var out = '';
    for (var i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
    return out;
  }

  function binaryToBytes(binary) {
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }

  function der(forge) {
    var asn1 = forge.asn1;
    var U = asn1.Class.UNIVERSAL;
    return {
      seq: function (items) { return asn1.create(U, asn1.Type.SEQUENCE, true, items); },
      set: function (items) { return asn1.create(U, asn1.Type.SET, true, items); },
      oid: function (dotted) { return asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes()); },
      octets: function (binary) { return asn1.create(U, asn1.Type.OCTETSTRING, false, binary); },
      integer: function (n) { return asn1.create(U, asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes()); },
      tagged: function (n, items) { return asn1.create(asn1.Class.CONTEXT_SPECIFIC, n, true, items); },
      bytes: function (node) { return asn1.toDer(node).getBytes(); }
    };
  }

  // PrivateKeyInfo with attributes [0] { SEQUENCE { randomNum OID, SET { BIT STRING } } }: the
  // encoding fincert.formats.npki.pkcs8_with_random_num writes.
  function privateKeyInfoWithRandomNum(forge, key, randomNum) {
    var d = der(forge);
    var info = forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key));
    var bitString = forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.BITSTRING, false, '\x00' + randomNum);
    info.value.push(d.tagged(0, [d.seq([d.oid(RANDOM_NUM_OID), d.set([bitString])])]));
    return info;
  }

  function dataContentInfo(d, binary) {
    return d.seq([d.oid(window.forge.pki.oids.data), d.tagged(0, [d.octets(binary)])]);
  }

  // The PFX: certificates (DER as the CA sent them) and the shrouded key, with a SHA-256 MAC.
  function buildPkcs12(key, certificateDers, password, randomNum, friendlyName) {
    var forge = window.forge;
    var pki = forge.pki;
    var d = der(forge);
    var localKeyId = forge.md.sha1.create().update(certificateDers[0]).digest().getBytes();
    var bagAttributes = d.set([
      d.seq([d.oid(pki.oids.localKeyId), d.set([d.octets(localKeyId)])]),
      d.seq([d.oid(pki.oids.friendlyName), d.set([forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.BMPSTRING, false, friendlyName)])])
    ]);
    var certBags = certificateDers.map(function (certificate, index) {
      var bag = [d.oid(pki.oids.certBag), d.tagged(0, [d.seq([d.oid(pki.oids.x509Certificate), d.tagged(0, [d.octets(certificate)])])])];
      if (index === 0) bag.push(bagAttributes);
      return d.seq(bag);
    });
    var shrouded = pki.encryptPrivateKeyInfo(privateKeyInfoWithRandomNum(forge, key, randomNum), password, PBE);
    var keyBag = d.seq([d.oid(pki.oids.pkcs8ShroudedKeyBag), d.tagged(0, [shrouded]), bagAttributes]);
    var authenticatedSafe = d.bytes(d.seq([
      dataContentInfo(d, d.bytes(d.seq(certBags))),
      dataContentInfo(d, d.bytes(d.seq([keyBag])))
    ]));
    var salt = forge.random.getBytesSync(16);
    var macKey = forge.pkcs12.generateKey(password, new forge.util.ByteBuffer(salt), 3, PBE.count, 32, forge.md.sha256.create());
    var hmac = forge.hmac.create();
    hmac.start('sha256', macKey);
    hmac.update(authenticatedSafe);
    var macData = d.seq([
      d.seq([d.seq([d.oid(pki.oids.sha256), forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.NULL, false, '')]), d.octets(hmac.digest().getBytes())]),
      d.octets(salt), d.integer(PBE.count)
    ]);
    return d.bytes(d.seq([d.integer(3), dataContentInfo(d, authenticatedSafe), macData]));
  }

  // A PKCS#12 file the holder picked: its key and certificates (the leaf first).
  function openPkcs12(binary, password) {
    var forge = window.forge;
    var pki = forge.pki;
    var p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(binary), password);
    var keyBags = (p12.getBags({ bagType: pki.oids.pkcs8ShroudedKeyBag })[pki.oids.pkcs8ShroudedKeyBag] || [])
      .concat(p12.getBags({ bagType: pki.oids.keyBag })[pki.oids.keyBag] || []);
    var certificates = (p12.getBags({ bagType: pki.oids.certBag })[pki.oids.certBag] || [])
      .map(function (bag) { return bag.cert; }).filter(Boolean);
    if (!keyBags.length || !keyBags[0].key || !certificates.length) throw new Error('no key or certificate in the file');
    var key = keyBags[0].key;
    // The leaf is the certificate of this key, wherever the file put it.
    var leafIndex = certificates.findIndex(function (c) { return c.publicKey.n && c.publicKey.n.equals(key.n); });
    if (leafIndex < 0) throw new Error('the file holds no certificate of its key');
    var leaf = certificates.splice(leafIndex, 1)[0];
    return { key: key, leaf: leaf, chain: certificates };
  }

  function readFileBinary(input, noFileMessage) {
    var file = input.files && input.files[0];
    if (!file) return Promise.reject(Object.assign(new Error(noFileMessage), { local: true }));
    return file.arrayBuffer().then(function (buffer) { return bytesToBinary(new Uint8Array(buffer)); });
  }

  function serialHex(forgeCertificate) {
    return forgeCertificate.serialNumber.replace(/^0+(?=.)/, '').toLowerCase();
  }

  // A fresh RSA-2048 key from WebCrypto (moved into forge to sign the CSR and wrap it in PKCS#12).
  function newKeyAndCsr() {
    var forge = window.forge;
    return crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true, ['sign', 'verify']
    ).then(function (pair) {
      return crypto.subtle.exportKey('pkcs8', pair.privateKey);
    }).then(function (pkcs8) {
      var key = forge.pki.privateKeyFromAsn1(forge.asn1.fromDer(forge.util.createBuffer(bytesToBinary(new Uint8Array(pkcs8)))));
      var csr = forge.pki.createCertificationRequest();
      csr.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
      // The CA sets the subject from the member's record; the CSR only proves the key.
      csr.setSubject([{ name: 'commonName', value: 'fincert holder' }]);
      csr.sign(key, forge.md.sha256.create());
      return { key: key, csr: csr };
    });
  }

  function newRandomNum() {
    var randomNum = new Uint8Array(20);
    crypto.getRandomValues(randomNum);
    return randomNum;
  }

  // Collect with a CSR, then build the .p12 with the issued certificate and offer it as a download.
  function collectIntoFile(collectBody, key, randomNum, password, link) {
    var forge = window.forge;
    return api('/api/v1/certificates/collect', collectBody).then(function (issued) {
      var ders = [issued.certificate].concat(issued.chain || []).map(function (pem) { return forge.pem.decode(pem)[0].body; });
      var p12 = buildPkcs12(key, ders, password, bytesToBinary(randomNum), 'fincert ' + issued.serial);
      link.href = URL.createObjectURL(new Blob([binaryToBytes(p12)], { type: 'application/x-pkcs12' }));
      link.download = 'fincert-' + issued.serial.slice(0, 16) + '.p12';
      return issued;
    });
  }

  // Why an API call failed, in the page's language: the API's detail is English, so a Korean
  // page says it by the problem's kind (the page carries those sentences: data-problem-*).
  function problemText(e) {
    if (document.body.dataset.lang === 'en') return e.problem && e.problem.detail ? e.problem.detail : e.message;
    var type = (e.problem && e.problem.type) || '';
    var kind = type.slice(type.lastIndexOf('/') + 1);
    var key = 'problem' + kind.split('-').map(function (w) { return w.charAt(0).toUpperCase() + w.slice(1); }).join('');
    return (kind && document.body.dataset[key]) || document.body.dataset.problemOther || '';
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
      var randomNum = newRandomNum();
      newKeyAndCsr().then(function (fresh) {
        return collectIntoFile({
          reference_number: section.dataset.reference, authorization_code: section.dataset.code,
          storage: 'file', csr: window.forge.pki.certificationRequestToPem(fresh.csr), random_num: hex(randomNum)
        }, fresh.key, randomNum, password, link);
      }).then(function (issued) {
        status.textContent = section.dataset.msgDone;
        result.hidden = false;
        form.hidden = true;
        section.dataset.serial = issued.serial;
        section.dataset.randomNum = hex(randomNum);
      }).catch(function (e) {
        button.disabled = false;
        status.textContent = '';
        error.textContent = section.dataset.msgFailed + ' ' + problemText(e);
        error.hidden = false;
      });
    });
  }

  // -- signing with a key file: CMS SignedData (detached) made here, checked by the verify API ---
  function transferOrder(form) {
    // The same canonical JSON the server signs for cloud certificates (sorted keys, no spaces).
    var amount = form.querySelector('[name=amount]').value.replace(/,/g, '').trim();
    var toAccount = form.querySelector('[name=to_account]').value.trim();
    if (!/^[0-9]+$/.test(amount) || +amount <= 0 || +amount > 1000000000) throw Object.assign(new Error('amount'), { field: 'amount' });
    if (!/^[0-9-]{1,32}$/.test(toAccount)) throw Object.assign(new Error('to_account'), { field: 'to_account' });
    return JSON.stringify({ amount: +amount, memo: form.querySelector('[name=memo]').value.trim().slice(0, 64), to_account: toAccount });
  }

  function signDetached(opened, contentUtf8) {
    var forge = window.forge;
    var pki = forge.pki;
    var p7 = forge.pkcs7.createSignedData();
    p7.content = forge.util.createBuffer(contentUtf8);
    [opened.leaf].concat(opened.chain).forEach(function (c) { p7.addCertificate(c); });
    p7.addSigner({
      key: opened.key, certificate: opened.leaf, digestAlgorithm: pki.oids.sha256,
      // In DER SET OF order (by encoding), so the signed bytes are those a verifier re-encodes.
      authenticatedAttributes: [
        { type: pki.oids.contentType, value: pki.oids.data },
        { type: pki.oids.signingTime, value: new Date() },
        { type: pki.oids.messageDigest }
      ]
    });
    p7.sign({ detached: true });
    return forge.asn1.toDer(p7.toAsn1()).getBytes();
  }

  function setupFileSign(section) {
    var form = section.querySelector('form');
    var error = section.querySelector('[data-file-error]');
    var status = section.querySelector('[data-file-status]');
    var result = section.querySelector('[data-file-result]');
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      error.hidden = true;
      result.hidden = true;
      var forge = window.forge;
      var kind = form.querySelector('[name=file_kind]:checked').value;
      var content;
      try {
        content = kind === 'document' ? form.querySelector('[name=document]').value : transferOrder(form);
        if (!content) throw Object.assign(new Error('document'), { field: 'document' });
      } catch (e) {
        error.textContent = section.dataset['msg' + (e.field === 'amount' ? 'Amount' : e.field === 'to_account' ? 'Account' : 'Document')];
        error.hidden = false;
        return;
      }
      status.textContent = section.dataset.msgWorking;
      readFileBinary(form.querySelector('[name=key_file]'), section.dataset.msgNofile).then(function (binary) {
        var opened;
        try {
          opened = openPkcs12(binary, form.querySelector('[name=key_password]').value);
        } catch (e) {
          throw Object.assign(new Error(section.dataset.msgOpen), { local: true });
        }
        var utf8 = forge.util.encodeUtf8(content);
        var signature = signDetached(opened, utf8);
        return api('/api/v1/verify', { signature: forge.util.encode64(signature), content: forge.util.encode64(utf8) }).then(function (report) {
          status.textContent = '';
          // The failure reason is the verifier's English: shown on English pages only.
          result.querySelector('[data-verify-outcome]').textContent = report.valid ? section.dataset.msgValid
            : section.dataset.msgInvalid + (document.body.dataset.lang === 'en' && report.failure ? ' ' + report.failure : '');
          result.querySelector('[data-verify-signer]').textContent = report.signer;
          result.querySelector('[data-verify-serial]').textContent = report.signer_serial;
          var statusBox = result.querySelector('[data-verify-status]');
          var statusKey = 'status' + String(report.certificate_status || '').split('-').map(function (w) { return w.charAt(0).toUpperCase() + w.slice(1); }).join('');
          statusBox.textContent = section.dataset[statusKey] || report.certificate_status;
          statusBox.dataset.status = report.certificate_status;
          result.querySelector('[data-verify-content]').textContent = content;
          result.querySelector('textarea').value = forge.util.encode64(signature);
          result.dataset.valid = String(report.valid);
          result.hidden = false;
        });
      }).catch(function (e) {
        status.textContent = '';
        error.textContent = e.local ? e.message : section.dataset.msgFailed + ' ' + problemText(e);
        error.hidden = false;
      });
    });
  }

  // -- renewing a file certificate: a new key, its CSR signed by the current key as the proof ----
  function setupFileRenew(section) {
    var form = section.querySelector('form');
    var error = section.querySelector('[data-file-error]');
    var status = section.querySelector('[data-file-status]');
    var result = section.querySelector('[data-file-result]');
    var link = section.querySelector('[data-file-link]');
    var serial = section.dataset.serial;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      error.hidden = true;
      var forge = window.forge;
      var password = form.querySelector('[name=new_password]').value;
      if (password !== form.querySelector('[name=new_password_confirm]').value) { error.textContent = section.dataset.msgMismatch; error.hidden = false; return; }
      if (!strongFilePassword(password)) { error.textContent = section.dataset.msgWeak; error.hidden = false; return; }
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      status.textContent = section.dataset.msgWorking;
      var current, fresh, applicationId;
      var randomNum = newRandomNum();
      readFileBinary(form.querySelector('[name=key_file]'), section.dataset.msgNofile).then(function (binary) {
        try {
          current = openPkcs12(binary, form.querySelector('[name=key_password]').value);
        } catch (e) {
          throw Object.assign(new Error(section.dataset.msgOpen), { local: true });
        }
        if (serialHex(current.leaf) !== serial) throw Object.assign(new Error(section.dataset.msgOther), { local: true });
        return api('/api/v1/me/applications', { kind: 'renew', serial: serial });
      }).then(function (application) {
        applicationId = application.application_id;
        return api('/api/v1/me/applications/' + applicationId + '/verify');
      }).then(function (collection) {
        return newKeyAndCsr().then(function (made) {
          fresh = made;
          // The proof of possession of the current key: its PKCS#1 v1.5 SHA-256 signature of the new CSR's DER.
          var md = forge.md.sha256.create();
          md.update(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(fresh.csr)).getBytes());
          return collectIntoFile({
            reference_number: collection.reference_number, authorization_code: collection.authorization_code,
            storage: 'file', csr: forge.pki.certificationRequestToPem(fresh.csr), random_num: hex(randomNum),
            renewal_proof: forge.util.encode64(current.key.sign(md))
          }, fresh.key, randomNum, password, link);
        });
      }).then(function (issued) {
        status.textContent = section.dataset.msgDone;
        section.dataset.renewedSerial = issued.serial;
        result.hidden = false;
        form.hidden = true;
      }).catch(function (e) {
        // An application this attempt opened is not left blocking the next one.
        if (applicationId !== undefined) api('/api/v1/me/applications/' + applicationId + '/cancel').catch(function () {});
        button.disabled = false;
        status.textContent = '';
        error.textContent = e.local ? e.message : section.dataset.msgFailed + ' ' + problemText(e);
        error.hidden = false;
      });
    });
  }

  // -- what was typed, kept across a refused form post ---------------------------------------------
  // A form posted from a stale page (its CSRF cookie gone with the browser session) is refused
  // with the "page expired" page, whose link loads the form's page afresh. The fields the server
  // would show again after an error (data-draft: never passwords, PINs or resident numbers) and
  // the choices made (radio buttons, selects) are kept in this tab's sessionStorage for that one
  // trip back and put into the same form again; any other page load drops them.
  var DRAFTS = 'fincert:drafts';
  var RESTORE = 'fincert:restore';

  function formKey(form) {
    return location.pathname + ' ' + (form.getAttribute('action') || '');
  }

  function keptField(element) {
    if (!element.name || element.type === 'password' || element.type === 'hidden' || element.type === 'file') return false;
    return element.type === 'radio' || element.tagName === 'SELECT' || element.hasAttribute('data-draft');
  }

  function keepDraft(event) {
    var form = event.target;
    if (event.defaultPrevented || !form || form.tagName !== 'FORM' || (form.getAttribute('method') || '').toLowerCase() !== 'post') return;
    var values = {};
    Array.prototype.forEach.call(form.elements, function (element) {
      if (!keptField(element)) return;
      if (element.type === 'radio') { if (element.checked) values[element.name] = element.value; }
      else values[element.name] = element.value;
    });
    try {
      var drafts = {};
      drafts[formKey(form)] = values;
      sessionStorage.setItem(DRAFTS, JSON.stringify(drafts));
    } catch (e) { /* storage turned off: nothing is kept */ }
  }

  function restoreDrafts() {
    try {
      if (document.body.hasAttribute('data-form-refused')) {
        if (sessionStorage.getItem(DRAFTS)) sessionStorage.setItem(RESTORE, '1');
        return;
      }
      var drafts = sessionStorage.getItem(RESTORE) ? JSON.parse(sessionStorage.getItem(DRAFTS) || '{}') : {};
      sessionStorage.removeItem(RESTORE);
      sessionStorage.removeItem(DRAFTS);
      Array.prototype.forEach.call(document.forms, function (form) {
        var values = drafts[formKey(form)];
        if (!values) return;
        Array.prototype.forEach.call(form.elements, function (element) {
          if (!keptField(element) || !Object.prototype.hasOwnProperty.call(values, element.name)) return;
          if (element.type === 'radio') element.checked = element.value === values[element.name];
          else element.value = values[element.name];
        });
      });
    } catch (e) { /* storage turned off or a draft unreadable: the form stays as served */ }
  }

  document.addEventListener('submit', keepDraft);  // bubbling: after the forms' own handlers

  // -- one submission per form ----------------------------------------------------------------
  // A second press while the first post is on its way (a double click, an impatient press) makes
  // the browser drop the first answer and show the second: "다음 단계" pressed twice showed the
  // refusal of an application already verified instead of the reference number and
  // authorization code, which are shown only once. A form posts once; it can post again when the
  // page comes back from the history (pageshow) or after a while (the answer never came).
  function submitOnce(event) {
    var form = event.target;
    if (!form || form.tagName !== 'FORM' || (form.getAttribute('method') || '').toLowerCase() !== 'post') return;
    if (form.dataset.submitting) { event.preventDefault(); return; }
    if (event.defaultPrevented) return;
    form.dataset.submitting = '1';
    setTimeout(function () { delete form.dataset.submitting; }, 15000);
  }

  document.addEventListener('submit', submitOnce);
  window.addEventListener('pageshow', function () {
    Array.prototype.forEach.call(document.forms, function (form) { delete form.dataset.submitting; });
  });

  document.addEventListener('DOMContentLoaded', function () {
    restoreDrafts();
    Array.prototype.forEach.call(document.querySelectorAll('[data-keypad]'), setupKeypad);
    Array.prototype.forEach.call(document.querySelectorAll('[data-webauthn]'), setupWebAuthn);
    Array.prototype.forEach.call(document.querySelectorAll('[data-file-store]'), setupFileStore);
    Array.prototype.forEach.call(document.querySelectorAll('[data-file-sign]'), setupFileSign);
    Array.prototype.forEach.call(document.querySelectorAll('[data-file-renew]'), setupFileRenew);
  });
})();
