// Where the dashboard shows each dimension of the reporting model: breakdown panels and their tabs (the API's
// `property` values, with the tab's title). Layout only: what a dimension is, whether it filters and what it
// counts come from the model (analytics-model/contracts/dimensions.json); the dashboard's tests hold this
// list to it, every dimension in exactly one tab.
export const PANELS = [
  { id: "pages", tabs: [["page", "Pages"], ["entry_page", "Entry pages"], ["exit_page", "Exit pages"]] },
  {
    id: "sources",
    tabs: [["source", "Referrers"], ["utm_source", "UTM source"], ["utm_medium", "UTM medium"],
      ["utm_campaign", "UTM campaign"]],
  },
  { id: "locations", tabs: [["country", "Countries"], ["region", "Regions"], ["city", "Cities"]] },
  {
    id: "devices",
    tabs: [["browser", "Browsers"], ["os", "Operating systems"], ["device", "Devices"], ["screen_class", "Screens"]],
  },
  { id: "events", tabs: [["event", "Custom events"]] },
];
