// District maps, on app.js's tiles (drawTiles): the coverage map (each camera listed on the page as its viewing
// cone, the district's boundary) and the administrators' boundary drawing (each tap adds a corner to the Boundary
// field's GeoJSON). Both are extras: the list and the text field hold everything without them.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var METRES_PER_PIXEL_AT_ZERO = 156543.03;

  function svgElement(name, attributes) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, attributes[key]); });
    return element;
  }

  function overlay(map) {
    var svg = svgElement("svg", { "class": "map-overlay", "aria-hidden": "true", "focusable": "false" });
    map.appendChild(svg);
    return svg;
  }

  function mercatorY(lat) {
    var sin = Math.sin(lat * Math.PI / 180);
    return 0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI);
  }

  // The centre and the largest zoom at which every [lat, lon] fits in the map with a margin.
  function fit(map, points, maxZoom) {
    var south = 90, north = -90, west = 180, east = -180;
    points.forEach(function (p) {
      south = Math.min(south, p[0]); north = Math.max(north, p[0]);
      west = Math.min(west, p[1]); east = Math.max(east, p[1]);
    });
    var width = Math.max(map.clientWidth - 48, 32), height = Math.max(map.clientHeight - 48, 32);
    var zoom = maxZoom;
    for (; zoom > 1; zoom--) {
      var scale = 256 * Math.pow(2, zoom);
      var dx = (east - west) / 360 * scale, dy = (mercatorY(south) - mercatorY(north)) * scale;
      if (dx <= width && dy <= height) break;
    }
    return { lat: (south + north) / 2, lon: (west + east) / 2, zoom: zoom };
  }

  function ringPath(layer, ring, close) {
    return ring.map(function (position, i) {
      var xy = layer.place(position[1], position[0]);
      return (i ? "L" : "M") + xy[0].toFixed(1) + " " + xy[1].toFixed(1);
    }).join(" ") + (close ? " Z" : "");
  }

  // A camera's view: a sector from the camera along its bearing (clockwise from north), or a circle at 360°.
  function conePath(center, radius, bearing, fov) {
    function at(degrees) {
      var a = degrees * Math.PI / 180;
      return (center[0] + radius * Math.sin(a)).toFixed(1) + " " + (center[1] - radius * Math.cos(a)).toFixed(1);
    }
    var r = radius.toFixed(1);
    if (fov >= 360) {
      return "M" + at(0) + " A" + r + " " + r + " 0 1 1 " + at(180) + " A" + r + " " + r + " 0 1 1 " + at(360) + " Z";
    }
    var large = fov > 180 ? 1 : 0;
    return "M" + center[0].toFixed(1) + " " + center[1].toFixed(1) + " L" + at(bearing - fov / 2) +
      " A" + r + " " + r + " 0 " + large + " 1 " + at(bearing + fov / 2) + " Z";
  }

  function drawCoverage(map) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-camera-at]"));
    var boundary = map.hasAttribute("data-boundary") ? JSON.parse(map.getAttribute("data-boundary")) : null;
    var cameras = rows.map(function (row) { return row.getAttribute("data-camera-at").split(",").map(parseFloat); });
    var points = cameras.slice();
    if (boundary) boundary.coordinates[0].forEach(function (p) { points.push([p[1], p[0]]); });
    if (!points.length) return;
    map.hidden = false;
    var view = fit(map, points, 18);
    var layer = drawTiles(map, view.zoom, view.lat, view.lon);
    var svg = overlay(map);
    if (boundary) {
      var d = boundary.coordinates.map(function (ring) { return ringPath(layer, ring, true); }).join(" ");
      svg.appendChild(svgElement("path", { "class": "map-boundary", "d": d, "fill-rule": "evenodd", "data-map-boundary": "" }));
    }
    var metresPerPixel = METRES_PER_PIXEL_AT_ZERO * Math.cos(view.lat * Math.PI / 180) / Math.pow(2, view.zoom);
    rows.forEach(function (row, i) {
      var center = layer.place(cameras[i][0], cameras[i][1]);
      var radius = Math.max(parseFloat(row.getAttribute("data-range")) / metresPerPixel, 8);
      var cone = svgElement("path", {
        "class": "map-cone " + (row.getAttribute("data-placement") === "outdoor" ? "outdoor" : "indoor"),
        "d": conePath(center, radius, parseFloat(row.getAttribute("data-bearing")), parseFloat(row.getAttribute("data-fov"))),
        "data-map-cone": "",
      });
      var title = svgElement("title", {});
      title.textContent = row.getAttribute("data-camera-label");
      cone.appendChild(title);
      svg.appendChild(cone);
      svg.appendChild(svgElement("circle", { "class": "map-cone-origin", "cx": center[0], "cy": center[1], "r": 3 }));
    });
  }

  // The boundary drawing: corners from the Boundary field's text, each tap on the map adds one, the field follows.
  function setUpBoundaryDrawing(panel) {
    var map = panel.querySelector("[data-boundary-map]");
    var field = panel.closest("form").querySelector("textarea[name=boundary]");
    var status = panel.querySelector("[data-boundary-status]");
    var corners = [], view, layer;

    function readField() {
      corners = [];
      try {
        var value = JSON.parse(field.value);
        if (value.type === "FeatureCollection" && value.features.length === 1) value = value.features[0];
        if (value.type === "Feature") value = value.geometry;
        if (value.type === "Polygon") corners = value.coordinates[0].slice();
      } catch (error) {
        corners = [];
      }
      var last = corners[corners.length - 1];
      if (corners.length > 1 && last[0] === corners[0][0] && last[1] === corners[0][1]) corners.pop();
    }
    function writeField() {
      field.value = corners.length
        ? JSON.stringify({ type: "Polygon", coordinates: [corners.concat([corners[0]])] })
        : "";
    }
    function render() {
      layer = drawTiles(map, view.zoom, view.lat, view.lon);
      var svg = overlay(map);
      if (corners.length > 1) {
        svg.appendChild(svgElement("path", { "class": "map-boundary", "d": ringPath(layer, corners, corners.length > 2) }));
      }
      corners.forEach(function (corner) {
        var xy = layer.place(corner[1], corner[0]);
        svg.appendChild(svgElement("circle", { "class": "map-corner", "cx": xy[0], "cy": xy[1], "r": 5, "data-map-corner": "" }));
      });
      status.textContent = corners.length === 0 ? "No corners yet."
        : corners.length + (corners.length === 1 ? " corner" : " corners") +
          (corners.length < 3 ? "; a boundary needs at least 3." : "; the outline closes back to the first.");
    }
    function centre() {
      var fallback = [parseFloat(map.getAttribute("data-default-lat")), parseFloat(map.getAttribute("data-default-lon"))];
      view = corners.length
        ? fit(map, corners.map(function (c) { return [c[1], c[0]]; }), 17)
        : { lat: fallback[0], lon: fallback[1], zoom: 15 };
    }

    panel.hidden = false;
    readField();
    centre();
    render();
    map.addEventListener("click", function (event) {
      var box = map.getBoundingClientRect();
      var point = layer.position(event.clientX - box.left, event.clientY - box.top);
      corners.push([Number(point[1].toFixed(6)), Number(point[0].toFixed(6))]);
      writeField();
      render();
    });
    panel.querySelector("[data-boundary-undo]").addEventListener("click", function () {
      corners.pop();
      writeField();
      render();
    });
    panel.querySelector("[data-boundary-clear]").addEventListener("click", function () {
      corners = [];
      writeField();
      render();
    });
    field.addEventListener("change", function () { readField(); centre(); render(); });
  }

  if (typeof drawTiles !== "function") return;
  var coverageMap = document.querySelector("[data-coverage-map]");
  if (coverageMap) drawCoverage(coverageMap);
  document.querySelectorAll("[data-boundary-draw]").forEach(setUpBoundaryDrawing);
})();
