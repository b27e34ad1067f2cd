// The place of a LOCATION-header template (views/place-inputs.js): the campaign builder and
// the inbox's template composer.
export default {
  en: {
    'place.title': 'Header location',
    'place.shown': 'Header location:',
    'place.latitude': 'Latitude',
    'place.longitude': 'Longitude',
    'place.name': 'Place name (optional)',
    'place.address': 'Address (optional)',
    'place.latitude_invalid': 'Give the latitude as a number from -90 to 90 (e.g. -6.1754).',
    'place.longitude_invalid': 'Give the longitude as a number from -180 to 180 (e.g. 106.8272).',
  },
  id: {
    'place.title': 'Lokasi header',
    'place.shown': 'Lokasi header:',
    'place.latitude': 'Lintang',
    'place.longitude': 'Bujur',
    'place.name': 'Nama tempat (opsional)',
    'place.address': 'Alamat (opsional)',
    'place.latitude_invalid': 'Isi lintang berupa angka dari -90 sampai 90 (mis. -6,1754).',
    'place.longitude_invalid': 'Isi bujur berupa angka dari -180 sampai 180 (mis. 106,8272).',
  },
};
