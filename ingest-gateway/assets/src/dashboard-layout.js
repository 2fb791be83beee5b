// The dashboard's breakdown panels, in the order they stand on the page. Which tabs each panel has (the API's
// `property` values and their titles) comes from the reporting model: every dimension names its panel and tab
// (analytics-model/contracts/dimensions.json), so a new dimension shows up without an edit here.
import { dimensions } from "../../../analytics-model/contracts/dimensions.json";

export const PANEL_ORDER = ["pages", "sources", "locations", "devices", "events"];

export const PANELS = PANEL_ORDER.map((id) => ({
  id,
  tabs: dimensions.filter((d) => d.panel === id).map((d) => [d.name, d.tab]),
}));
