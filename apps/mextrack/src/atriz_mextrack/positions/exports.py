"""A track as GeoJSON (RFC 7946) and as GPX 1.1 (written by gpxpy), for any map or GPS tool."""

from __future__ import annotations

from typing import Any

import gpxpy.gpx

from atriz_mextrack.positions.schemas import Position
from atriz_mextrack.vehicles.schemas import Vehicle

__all__ = ["track_geojson", "track_gpx"]


def track_geojson(vehicle: Vehicle, points: list[Position]) -> dict[str, Any]:
    """A FeatureCollection: the track as one LineString ([longitude, latitude, altitude?]),
    with each point's time in `properties.coordTimes` (the convention of togeojson and
    Mapbox); a single point is a Point, no point no feature."""
    coordinates = [
        [p.longitude, p.latitude]
        if p.altitude_m is None
        else [p.longitude, p.latitude, p.altitude_m]
        for p in points
    ]
    properties = {
        "vehicle_id": str(vehicle.id),
        "name": vehicle.name,
        "plate": vehicle.plate,
        "coordTimes": [p.recorded_at.isoformat() for p in points],
    }
    features: list[dict[str, Any]] = []
    if len(points) == 1:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": coordinates[0]},
                "properties": properties,
            }
        )
    elif points:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coordinates},
                "properties": properties,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def track_gpx(vehicle: Vehicle, points: list[Position]) -> str:
    """GPX 1.1: one track named after the vehicle, one segment, a point per fix."""
    document = gpxpy.gpx.GPX()
    document.creator = "Atriz mextrack"
    track = gpxpy.gpx.GPXTrack(name=f"{vehicle.name} ({vehicle.plate})")
    segment = gpxpy.gpx.GPXTrackSegment()
    segment.points = [
        gpxpy.gpx.GPXTrackPoint(
            latitude=p.latitude, longitude=p.longitude, elevation=p.altitude_m, time=p.recorded_at
        )
        for p in points
    ]
    track.segments.append(segment)
    document.tracks.append(track)
    xml: str = document.to_xml(version="1.1")
    return xml
