//! H3 location cells for heatmaps: a point to its cell, a cell to a GeoJSON-ready ring.

use h3o::{CellIndex, LatLng, Resolution};

use crate::query::MAX_H3_RES;
use crate::rows::KeyValue;

/// Why a location could not become a heatmap cell.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// The resolution asked is finer than [`MAX_H3_RES`], small enough to single people out.
    #[error("h3 res must be <= {MAX_H3_RES}, got {0}")]
    ResTooFine(u8),
    /// H3 refused the latitude or longitude (degrees), e.g. not finite.
    #[error("invalid coordinates: {0}")]
    BadCoordinates(String),
    /// The number is not a valid H3 cell index.
    #[error("not an H3 cell index: {0:#x}")]
    BadCell(u64),
}

/// The cell of `(lat, lng)` (degrees) at `res`; finer than [`MAX_H3_RES`] is refused
/// because small cells single people out.
pub fn cell_of(lat: f64, lng: f64, res: u8) -> Result<u64, GeoError> {
    if res > MAX_H3_RES {
        return Err(GeoError::ResTooFine(res));
    }
    let r = Resolution::try_from(res).map_err(|_| GeoError::ResTooFine(res))?;
    let ll = LatLng::new(lat, lng).map_err(|e| GeoError::BadCoordinates(e.to_string()))?;
    Ok(u64::from(ll.to_cell(r)))
}

/// The group-key value for a location cell.
pub fn cell_key(lat: f64, lng: f64, res: u8) -> Result<KeyValue, GeoError> {
    cell_of(lat, lng, res).map(KeyValue::H3Cell)
}

/// Closed boundary ring of a cell as GeoJSON positions `[lng, lat]` (first = last).
pub fn cell_boundary(cell: u64) -> Result<Vec<[f64; 2]>, GeoError> {
    let c = CellIndex::try_from(cell).map_err(|_| GeoError::BadCell(cell))?;
    let mut ring: Vec<[f64; 2]> = c.boundary().iter().map(|p| [p.lng(), p.lat()]).collect();
    if let Some(first) = ring.first().copied() {
        ring.push(first);
    }
    Ok(ring)
}

/// Text form of a cell (hex, as H3 tools print it).
pub fn cell_text(cell: u64) -> String {
    format!("{cell:x}")
}

/// One heatmap cell: ready for a GeoJSON `Feature` with a `Polygon` geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatCell {
    /// H3 cell index.
    pub cell: u64,
    /// Closed ring of `[lng, lat]` positions.
    pub ring: Vec<[f64; 2]>,
    /// The released number of people in the cell, with its error.
    pub estimate: crate::engine::Estimate,
}

/// The cells of a release grouped by one H3 dimension (other groups are skipped).
pub fn heatmap_cells(release: &crate::engine::Release) -> Result<Vec<HeatCell>, GeoError> {
    release
        .groups
        .iter()
        .filter_map(|g| match g.key.0.as_slice() {
            [KeyValue::H3Cell(c)] => Some((*c, g.estimate)),
            _ => None,
        })
        .map(|(cell, estimate)| {
            Ok(HeatCell {
                cell,
                ring: cell_boundary(cell)?,
                estimate,
            })
        })
        .collect()
}
