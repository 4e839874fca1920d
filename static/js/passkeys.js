// Passkey ceremonies (WebAuthn) for the login step, the passkey page and the page that asks
// for a passkey. The strict CSP allows no inline script: the URLs, the CSRF token and the
// translated messages come from data- attributes the server renders on each [data-passkey].
(function () {
  "use strict";

  function toBuffer(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var padded = base64 + "===".slice((base64.length + 3) % 4);
    var binary = atob(padded);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(options) {
    options.challenge = toBuffer(options.challenge);
    options.user.id = toBuffer(options.user.id);
    (options.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBuffer(options.challenge);
    (options.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return options;
  }

  function registrationJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        attestationObject: toBase64url(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : [],
      },
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
    };
  }

  function assertionJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        authenticatorData: toBase64url(response.authenticatorData),
        signature: toBase64url(response.signature),
        userHandle: response.userHandle ? toBase64url(response.userHandle) : undefined,
      },
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
    };
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { ok: response.ok, data: data };
      });
    });
  }

  function setUp(box) {
    var data = box.dataset;
    var button = box.querySelector("button");
    var status = box.querySelector("[role=status]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      status.textContent = data.msgUnsupported;
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      status.textContent = data.msgWorking;
      var register = data.passkey === "register";
      post(data.beginUrl, data.csrf)
        .then(function (begin) {
          if (!begin.ok) throw new Error("begin");
          return register
            ? navigator.credentials.create({ publicKey: creationOptions(begin.data) })
            : navigator.credentials.get({ publicKey: requestOptions(begin.data) });
        })
        .then(function (credential) {
          var body = register ? registrationJSON(credential) : assertionJSON(credential);
          return post(data.completeUrl, data.csrf, body);
        })
        .then(function (done) {
          if (!done.ok) throw new Error("complete");
          status.textContent = data.msgDone;
          window.location.assign(done.data.redirect_url || data.doneUrl);
        })
        .catch(function (error) {
          status.textContent =
            error && (error.name === "NotAllowedError" || error.name === "AbortError")
              ? data.msgCancelled
              : data.msgFailed;
          button.disabled = false;
          button.focus();
        });
    });
  }

  document.querySelectorAll("[data-passkey]").forEach(setUp);
})();
