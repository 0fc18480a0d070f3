// Upload step: check each PDF in the browser, upload it with a progress bar (XHR to POST /api/uploads),
// follow its parse job (GET /api/jobs/{id}) and, once files are read, let the student continue to /t/new.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) return;
  var input = document.getElementById("files");
  var drop = document.getElementById("drop");
  var list = document.getElementById("file-list");
  var section = document.getElementById("file-section");
  var template = document.getElementById("file-item");
  var next = document.getElementById("continue");
  var hint = document.getElementById("continue-hint");
  var jobIds = document.getElementById("job-ids");
  var maxFiles = parseInt(form.dataset.maxFiles, 10);
  var maxBytes = parseInt(form.dataset.maxBytes, 10);
  var POLL_MS = 400; // how often a parse job is checked
  var KINDS = { lectures: "Lectures", tests: "Semester tests", exams: "Exams" };
  var items = []; // {file, el, state: uploading|parsing|done|failed|rejected, job}

  function sizeText(bytes) {
    return bytes < 1048576 ? Math.max(1, Math.round(bytes / 1024)) + " KB" : (bytes / 1048576).toFixed(1) + " MB";
  }

  function active() {
    return items.filter(function (it) { return it.state !== "rejected" && it.state !== "removed"; });
  }

  function refresh() {
    var done = items.filter(function (it) { return it.state === "done"; });
    var busy = items.some(function (it) { return it.state === "uploading" || it.state === "parsing"; });
    jobIds.textContent = "";
    done.forEach(function (it) {
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "job_id";
      hidden.value = it.job;
      jobIds.appendChild(hidden);
    });
    next.disabled = busy || done.length === 0;
    hint.textContent = busy ? "Reading your files…" : done.length
      ? done.length + " file" + (done.length > 1 ? "s" : "") + " read. You can add another file or continue."
      : "The button works once at least one file has been read.";
    section.hidden = items.length === 0;
  }

  function setStatus(it, text, isError) {
    var status = it.el.querySelector(".status");
    status.textContent = text;
    status.className = "status" + (isError ? " error" : "");
    if (isError) status.setAttribute("role", "alert");
  }

  function fail(it, message, state) {
    it.state = state || "failed";
    it.el.classList.add(it.state);
    it.el.querySelector(".parse").value = 0;
    setStatus(it, message, true);
    refresh();
  }

  function describe(job) {
    var events = job.events || [];
    var noun = job.kind === "lectures" ? "class" : job.kind === "tests" ? "test" : "exam";
    var plural = noun === "class" ? "classes" : noun + "s";
    var text = (KINDS[job.kind] || "Timetable") + ": " + events.length + " " + (events.length === 1 ? noun : plural);
    if (job.warnings && job.warnings.length) text += " (" + job.warnings.length + " row(s) could not be read)";
    return text;
  }

  function poll(it) {
    if (it.state === "removed") return;
    fetch("/api/jobs/" + encodeURIComponent(it.job), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        var job = res.body;
        if (!res.ok) return fail(it, job.message || "This file could not be read.");
        var bar = it.el.querySelector(".parse");
        if (job.status === "completed") {
          it.state = "done";
          bar.value = 100;
          it.el.classList.add("completed");
          setStatus(it, describe(job), false);
          refresh();
        } else if (job.status === "failed") {
          fail(it, (job.error && job.error.message) || "This file could not be read.");
        } else {
          if (job.status === "processing") bar.removeAttribute("value"); // indeterminate while reading
          setStatus(it, job.status === "processing" ? "Reading…" : "Waiting to be read…", false);
          window.setTimeout(function () { poll(it); }, POLL_MS);
        }
      })
      .catch(function () { fail(it, "We lost the connection while reading this file. Please try again."); });
  }

  function upload(it) {
    var data = new FormData();
    data.append("files", it.file, it.file.name);
    var xhr = new XMLHttpRequest();
    var bar = it.el.querySelector(".up");
    xhr.open("POST", "/api/uploads");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    };
    xhr.onload = function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status === 202 && body.jobs && body.jobs.length) {
        bar.value = 100;
        it.job = body.jobs[0].id;
        it.state = "parsing";
        setStatus(it, "Uploaded. Waiting to be read…", false);
        refresh();
        poll(it);
      } else {
        fail(it, body.message || "The upload failed. Please try again.");
      }
    };
    xhr.onerror = function () { fail(it, "The upload failed (no connection). Please try again."); };
    setStatus(it, "Uploading…", false);
    xhr.send(data);
  }

  function check(file) {
    var name = (file.name || "").toLowerCase();
    var pdfType = !file.type || file.type === "application/pdf";
    if (!/\.pdf$/.test(name) || !pdfType) return form.dataset.msgNotPdf;
    if (file.size > maxBytes) return form.dataset.msgTooLarge;
    return null;
  }

  function add(file) {
    var el = template.content.firstElementChild.cloneNode(true);
    var it = { file: file, el: el, state: "uploading", job: null };
    el.querySelector(".file-name").textContent = file.name;
    el.querySelector(".file-size").textContent = sizeText(file.size);
    el.querySelector(".remove").addEventListener("click", function () {
      if (it.job) fetch("/api/jobs/" + encodeURIComponent(it.job), { method: "DELETE" }).catch(function () {});
      it.state = "removed";
      items = items.filter(function (x) { return x !== it; });
      el.remove();
      refresh();
      input.focus();
    });
    list.appendChild(el);
    items.push(it);
    var problem = active().length > maxFiles ? form.dataset.msgTooMany : check(file);
    if (problem) {
      fail(it, problem, "rejected");
      el.querySelector(".bar").hidden = true;
      el.querySelectorAll(".bar")[1].hidden = true;
      return;
    }
    upload(it);
  }

  function addAll(files) {
    Array.prototype.forEach.call(files, add);
    refresh();
    input.value = "";
  }

  input.addEventListener("change", function () { addAll(input.files); });
  form.addEventListener("submit", function (e) { e.preventDefault(); addAll(input.files); });
  ["dragenter", "dragover"].forEach(function (type) {
    drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files) addAll(e.dataTransfer.files);
  });
})();
