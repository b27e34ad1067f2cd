// Strings shared by every page: the shell, sign-in, generic actions.
export default {
  en: {
    'common.save': 'Save',
    'common.cancel': 'Cancel',
    'common.delete': 'Delete',
    'common.loading': 'Loading…',
  },
  id: {
    'common.save': 'Simpan',
    'common.cancel': 'Batal',
    'common.delete': 'Hapus',
    'common.loading': 'Memuat…',
  },
};
